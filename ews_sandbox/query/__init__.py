"""Queries: restrictions, sort orders and paged views of FindItem and FindFolder."""
