"""SDK v1 style with inference-schema: numpy input, a standard-type global parameter, numpy output."""

import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    global model
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.pkl"))


input_sample = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]])
output_sample = np.array([3726.995])


@input_schema("Inputs", NumpyParameterType(input_sample))
@input_schema("GlobalParameters", StandardPythonParameterType(1.0))
@output_schema(NumpyParameterType(output_sample))
def run(Inputs, GlobalParameters):
    try:
        result = model.predict(Inputs) * GlobalParameters
        return result.tolist()
    except Exception as e:
        return str(e)
