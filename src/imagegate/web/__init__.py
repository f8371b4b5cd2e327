"""The browser console (``/console``): server-rendered pages over ``service/``, like any dialect."""
