"""Restrictions (placeholder until FindItem lands)."""
