"""Fine-tuning InternVL2 on flowcharts (installed as ``flowparse.training``)."""

if __name__ != "flowparse.training":  # the folder is mapped into the flowparse package
    raise ImportError("import flowparse.training, not the top-level 'training' folder")

__all__: list[str] = []
