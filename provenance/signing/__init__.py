"""Keys, the statements prov signs, their DSSE envelopes, and where trust in a key comes from."""
