"""The mobile API v1 (DESIGN.md section 5): one view per operation, small serializers, one
exception handler for the error shape."""
