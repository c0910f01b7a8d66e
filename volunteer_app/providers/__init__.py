"""Clients of outside providers (SMS, WeChat, app push) over their HTTP APIs: core, imports no domain."""
