"""Controls as code: named, versioned rules over a run, evaluated on every run (docs/controls.md)."""
