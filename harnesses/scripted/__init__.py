"""The scripted policy server: a stand-in model for demos and tests, never for measuring values.

It speaks the OpenAI Chat Completions and Anthropic Messages wire protocols on loopback and
answers with a *policy* chosen by the request's `model` field: replay a task's golden calls,
make seeded random calls, refuse, or misbehave on purpose (malformed arguments, unknown tools,
HTTP 500 bursts, slow replies) so harnesses can be tested against real clients.
"""
