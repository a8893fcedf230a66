"""Room for the deadbeat.stream cogs of deadbeat-cogs-net (see DESIGN.md); none yet."""

__all__: list[str] = []
