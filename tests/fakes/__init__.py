"""Loopback HTTPS stand-ins for Entra ID, Log Analytics and Microsoft Graph, for connector tests."""
