"""inference-schema with standard Python types, a second parameter with a default, and request_headers."""

from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("customer", StandardPythonParameterType({"name": "Ada", "visits": 3, "tags": ["new"]}))
@input_schema("scale", StandardPythonParameterType(1.5))
@output_schema(StandardPythonParameterType({"greeting": "Hello Ada", "score": 4.5}))
def run(customer, scale=2.0, request_headers=None):
    return {
        "greeting": f"Hello {customer['name']}",
        "score": customer["visits"] * scale,
        "customer_type": type(customer).__name__,
        "header": (request_headers or {}).get("X-Caller"),
    }
