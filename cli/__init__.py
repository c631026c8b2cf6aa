"""The `workbench` command line: an interface above core, like pages/ and api/."""
