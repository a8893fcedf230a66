"""Room for the deadbeat.http cogs of deadbeat-cogs-net (see DESIGN.md); none yet."""

__all__: list[str] = []
