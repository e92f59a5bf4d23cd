"""Wiring of the Azure backends (`open_azure`) and the local emulators they run on (`emulators`)."""
