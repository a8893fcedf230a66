"""Room for the deadbeat.dns cogs of deadbeat-cogs-net (see DESIGN.md); none yet."""

__all__: list[str] = []
