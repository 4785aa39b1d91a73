"""REST API plumbing that knows no app: the error shape."""


def api_exception_handler(exc, context):
    """Every error answers ``{"error": "<what is wrong>"}`` (plus the field errors for bodies)."""
    # Imported here: rest_framework.views imports this module (via settings) while it loads.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, dict):
        parts = []
        for field, errors in data.items():
            text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
            parts.append(f"{field}: {text}")
        response.data = {"error": " ".join(parts), "fields": data}
    elif isinstance(data, list):
        response.data = {"error": " ".join(str(item) for item in data)}
    return response
