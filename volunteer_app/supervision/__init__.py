"""Supervision and service quality (README "Supervision"): 督办 items with 销号, follow-up visits (回访),
complaints (诉求) and appeals of audits. It sits above orders, activities and the time book and reads
them; the statistics, the workbench and the console read it. Every status here moves only through the
tables of supervision/states.py, each move one line of the shared timeline (SupervisionEvent)."""
