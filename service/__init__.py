"""随手拍 snap-and-report: the domain core, and the Flask faces on it (create_app lives in service.web)."""
