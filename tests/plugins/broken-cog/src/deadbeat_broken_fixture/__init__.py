"""A plugin that fails on import, as a plugin with a missing dependency would."""

raise RuntimeError("deadbeat-broken-fixture fails on import on purpose")
