"""Every cog of the distribution passes the conformance kit."""

from deadbeat.testing import CogConformance


class TestExampleConformance(CogConformance):
    cog_name = "NAME.example"
    params = {"field": "line"}
    samples = [{"line": "text"}]
    # Data the cog must refuse by raising (they go to the error output alone).
    failing_samples = [{"other": "no line field"}]
    flushes_all = True
