"""A django-oscar storefront (public packages, nobody on the project wrote it) for the HAR replay test."""
