"""Packages made from a case (WACZ, BagIt, disclosure, exhibit report) and their checks."""
