"""inference-schema with pandas: the body's "data" arrives as a DataFrame."""

import pandas as pd
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

SAMPLE = pd.DataFrame({"age": [34], "income": [52000.0], "city": ["Oslo"]})


def init():
    pass


@input_schema("data", PandasParameterType(SAMPLE))
@output_schema(StandardPythonParameterType({"rows": 1, "columns": ["age"], "mean_income": 52000.0}))
def run(data):
    return {"rows": len(data), "columns": list(data.columns), "mean_income": float(data["income"].mean()),
            "cities": sorted(set(data["city"]))}
