"""Every cog of the distribution passes the conformance kit."""

from deadbeat.testing import CogConformance


class TestExampleConformance(CogConformance):
    cog_name = "NAME.example"
    params = {"field": "line"}
    samples = [{"line": "text"}]
    flushes_all = True
