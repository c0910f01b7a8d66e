"""Local fake provider servers (WeChat, SMS, push) speaking each provider's HTTP protocol on 127.0.0.1:
tests start them, the senders talk to them over real HTTP, and they check what a provider checks."""
