"""The Qt-free core: numpy models of every view (grid, map, path, monitor), sampling, projections, metrics.

No PySide6, no pyqtgraph, no torch: every module here is unit-testable without a display. Models
announce changes with ``events.Signal``; views in ``explorer.qt`` subscribe.
"""
