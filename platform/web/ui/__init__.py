"""The browser UI generated from the runtime model: shell, lists, forms, console."""
