"""Projections: current state folded from journal entries, in the writer's transaction and on replay."""
