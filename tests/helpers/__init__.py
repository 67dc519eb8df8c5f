"""Fakes and runners shared by the unit and root tests."""
