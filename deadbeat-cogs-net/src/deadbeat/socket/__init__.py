"""Room for the deadbeat.socket cogs of deadbeat-cogs-net (see DESIGN.md); none yet."""

__all__: list[str] = []
