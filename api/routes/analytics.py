"""Placeholder until tracelake.queries lands."""

from fastapi import APIRouter

router = APIRouter()
