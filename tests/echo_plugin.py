"""A third-party-style plugin module (loaded with RLAIF_PLUGINS=tests.echo_plugin): a model backend "echo".

``echo:NAME`` answers every conversation with its last user message prefixed by NAME; it has no log-probs,
so judges fall back to parsing its text (which starts with the prompt, never with "A" or "B").
"""

from __future__ import annotations

from rlaif import hookimpl


class EchoModel:
    def __init__(self, name: str):
        self.name = f"echo:{name}"

    def generate(self, conversations, params, seeds=None):
        return [f"{self.name} says: {conversation[-1]['content'][:200]}" for conversation in conversations]

    def label_logprobs(self, conversations, labels):
        return [None for _ in conversations]


@hookimpl
def register_models(register):
    register("echo", lambda spec, options: EchoModel(spec), description="Echoes the last user message.")
