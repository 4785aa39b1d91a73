from splittests import lifecycle


def stop_expired_tests() -> int:
    """Scheduled hourly; safe to run twice."""
    return lifecycle.stop_expired_tests()
