"""Forms, lists, filters and the screen-pop layout, derived from the runtime model."""
