"""SS3D training (workstation/cluster only; not installed on robots). Entry point: ``python -m training``."""
