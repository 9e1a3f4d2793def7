"""What POST /v1/jobs/{id}/predictions takes as JSON and what it answers."""

from pydantic import BaseModel, ConfigDict, Field

MAX_TOP_K = 1000


class FlashServeInput(BaseModel):
    """One image as flash.serve's ImageClassifier takes it: base64 in `data`."""

    model_config = ConfigDict(extra="forbid")
    data: str = Field(description="The image file's bytes, base64 (a data: URL prefix is allowed)")


class FlashServePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: FlashServeInput | list[FlashServeInput]


class PredictionsIn(BaseModel):
    """Images as base64 strings in `images`, or flash.serve's `{"session", "payload": {"inputs": {"data"}}}`."""

    model_config = ConfigDict(extra="forbid")
    images: list[str] | None = Field(None, description="Image files' bytes, base64 each")
    payload: FlashServePayload | None = None
    session: str | None = Field(None, max_length=200, description="flash.serve's session id, answered back")
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, description="Classes per image (default 5)")


class LabelProbability(BaseModel):
    label: str
    probability: float


class PredictionsOut(BaseModel):
    """For each image, in the order sent, its top classes with their probabilities, highest first."""

    job_id: str
    predictions: list[list[LabelProbability]]
    session: str | None = None
