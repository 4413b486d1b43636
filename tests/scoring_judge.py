"""A test plugin: a judge that scores single responses (has ``as_reward()``), like the ``score`` judge."""

from rlaif import hookimpl


class KeywordScoreJudge:
    name = "keyword-score"

    def __init__(self, keyword: str, context):
        self.keyword, self.context = keyword, context

    def compare(self, comparisons):
        raise NotImplementedError("scoring only")

    def as_reward(self):
        def reward(prompts, completions, **_):
            return [1.0 if self.keyword in c[0]["content"] else 0.0 for c in completions]

        return reward


@hookimpl
def register_judges(register):
    register(
        "keyword-score", lambda options, context: KeywordScoreJudge(options.get("keyword", "yes"), context)
    )
