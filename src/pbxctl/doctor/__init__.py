"""`pbxctl doctor`: what an engineer checks by hand before a site goes live, each check
one OK/WARN/FAIL line."""
