"""Microsoft's vocabulary that both the source layer and the models speak, written once.

The values are facts about the source data (what Defender writes), so they belong below every
layer that reads it: pipelines.sources (the raw row contract, the sample generator, the quality
suites through it) and the models (handed to the SQL as parameters) both import them from here.
This package imports nothing of the project (an import contract in pyproject.toml holds it).
"""

from __future__ import annotations

# The DeviceEvents ActionTypes of the Windows Defender Firewall: what the extract keeps by default
# and what the firewall models read.
FIREWALL_ACTION_TYPES = (
    "FirewallInboundConnectionBlocked",
    "FirewallInboundConnectionToAppBlocked",
    "FirewallOutboundConnectionBlocked",
    "FirewallServiceStopped",
)
