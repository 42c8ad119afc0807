"""The one writer: checked appends in group commits, signed checkpoints, and the whole-log audit."""
