"""Everything that speaks OpenFlow: the Ryu app, the framework seam, messages, sync."""
