"""The Orcheo storage contract suite."""
