"""工作台: the read queries of the managers' console (and their phones): the roster and today's work."""
