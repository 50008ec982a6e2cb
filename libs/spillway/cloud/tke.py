"""The InstanceProvider on TKE Serverless: idempotent creates, batched describes and deletes.

Call budget per pod (the API allows 20 calls/s per action): one batched name lookup (≤ 100
names a call) and one create — CreateEKSContainerInstances cannot batch different pods (its
`Replicas` copies one spec under one name) — then batched describes (≤ 100 ids a call) and
batched deletes (≤ 20 ids a call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from spillway.cloud.batcher import Batcher
from spillway.cloud.errors import CloudError, InvalidRequestError, NotFoundError, SoldOutError
from spillway.cloud.instance import CreateRequest, Instance, InstanceEvent, event_from_api, instance_from_api
from spillway.cloud.transport import TkeApi, TkeSettings
from spillway.loops import call_with_retry

DESCRIBE_MAX_IDS = 100
DELETE_MAX_IDS = 20
PAGE = 100
LOG_MAX_TAIL = 2000


class TkeProvider:
    """Implements InstanceProvider, LogSource, EventSource and HealthProbe (see `spillway.cloud.provider`)."""

    def __init__(self, settings: TkeSettings, *, batch_idle: float = 0.005, batch_max_wait: float = 0.05) -> None:
        self.settings = settings
        self.api = TkeApi(settings)
        opts: dict[str, Any] = {"idle": batch_idle, "max_wait": batch_max_wait, "clock": settings.clock}
        self._by_id: Batcher[str, Instance | None] = Batcher(
            self._describe_ids, max_items=DESCRIBE_MAX_IDS, default=None, **opts)
        self._by_name: Batcher[str, Instance | None] = Batcher(
            self._describe_names, max_items=DESCRIBE_MAX_IDS, default=None, **opts)
        self._deleter: Batcher[str, None] = Batcher(self._delete_ids, max_items=DELETE_MAX_IDS, default=None, **opts)
        self._creating: dict[str, asyncio.Task[str]] = {}

    def __repr__(self) -> str:
        return f"TkeProvider({self.api!r})"

    async def __aenter__(self) -> TkeProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in self._creating.values():
            task.cancel()
        for batcher in (self._by_id, self._by_name, self._deleter):
            await batcher.close()
        await self.api.close()

    # ---- create ------------------------------------------------------------------------------

    async def create(self, request: CreateRequest) -> str:
        task = self._creating.get(request.name)
        if task is None:  # one in-flight create per name in this process
            task = asyncio.create_task(self._create(request))
            self._creating[request.name] = task
            task.add_done_callback(lambda _t: self._creating.pop(request.name, None))
        return await asyncio.shield(task)

    async def _create(self, request: CreateRequest) -> str:
        if request.params.get("Replicas", 1) != 1:
            raise InvalidRequestError("InvalidParameterValue", "one instance per name: Replicas must be 1")
        params = {k: v for k, v in request.params.items() if k != "Replicas"} | {"EksCiName": request.name}
        zone = self.settings.subnet_zones.get(str(params.get("SubnetId")))

        async def look_then_create() -> str:
            # Looking first on every attempt makes retries after an ambiguous failure (timeout,
            # InternalError after the effect) safe: the instance that did get created is found.
            existing = await self._by_name.submit(request.name)
            if existing is not None:
                return existing.id
            try:
                response = await self.api.call_once("CreateEKSContainerInstances", params)
            except SoldOutError as err:
                raise SoldOutError(err.code, err.message, err.request_id, zone=zone) from None
            ids: list[str] = response["EksCiIds"]
            return ids[0]

        return await call_with_retry(look_then_create, self.settings.should_retry, retry_on=(CloudError,),
                                     clock=self.settings.clock, max_elapsed=self.settings.max_elapsed)

    # ---- describe ----------------------------------------------------------------------------

    async def describe(self, ids: Sequence[str]) -> dict[str, Instance]:
        unique = list(dict.fromkeys(ids))
        found = await asyncio.gather(*(self._by_id.submit(i) for i in unique))
        return {i: inst for i, inst in zip(unique, found, strict=True) if inst is not None}

    async def describe_by_names(self, names: Sequence[str]) -> dict[str, Instance]:
        unique = list(dict.fromkeys(names))
        found = await asyncio.gather(*(self._by_name.submit(n) for n in unique))
        return {n: inst for n, inst in zip(unique, found, strict=True) if inst is not None}

    async def list_by_name_prefix(self, prefix: str) -> list[Instance]:
        # The name filter matches whole names only, so list everything and filter here (GC is rare).
        return [i for i in await self._describe_all([]) if i.name.startswith(prefix)]

    async def _describe_ids(self, ids: list[str]) -> dict[str, Instance]:
        response = await self.api.call("DescribeEKSContainerInstances", {"EksCiIds": ids, "Limit": DESCRIBE_MAX_IDS})
        zones = self.settings.subnet_zones
        return {d["EksCiId"]: instance_from_api(d, zones) for d in response.get("EksCis") or []}

    async def _describe_names(self, names: list[str]) -> dict[str, Instance]:
        by_name: dict[str, Instance] = {}
        for inst in await self._describe_all([{"Name": "eks-ci-name", "Values": names}]):
            best = by_name.get(inst.name)
            if best is None or _age_key(inst) < _age_key(best):
                by_name[inst.name] = inst
        return by_name

    async def _describe_all(self, filters: list[dict[str, Any]]) -> list[Instance]:
        out: list[Instance] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"Limit": PAGE, "Offset": offset}
            if filters:
                params["Filters"] = filters
            response = await self.api.call("DescribeEKSContainerInstances", params)
            page = response.get("EksCis") or []
            out.extend(instance_from_api(d, self.settings.subnet_zones) for d in page)
            offset += len(page)
            if not page or offset >= int(response.get("TotalCount") or 0):
                return out

    # ---- delete ------------------------------------------------------------------------------

    async def delete(self, ids: Sequence[str]) -> None:
        await asyncio.gather(*(self._deleter.submit(i) for i in dict.fromkeys(ids)))

    async def _delete_ids(self, ids: list[str]) -> dict[str, None]:
        remaining = ids
        for _ in range(3):
            try:
                await self.api.call("DeleteEKSContainerInstances", {"EksCiIds": remaining})
                return {}
            except NotFoundError:
                # Delete is all-or-nothing: one id already gone fails the call. Keep those that exist.
                if len(remaining) == 1:
                    return {}
                existing = await self._describe_ids(remaining)
                remaining = [i for i in remaining if i in existing]
                if not remaining:
                    return {}
        await self.api.call("DeleteEKSContainerInstances", {"EksCiIds": remaining})
        return {}

    # ---- optional abilities -------------------------------------------------------------------

    async def logs(self, instance_id: str, container: str | None = None, tail: int | None = None) -> str:
        params: dict[str, Any] = {"EksCiId": instance_id}
        if container:
            params["ContainerName"] = container
        if tail is not None:
            params["Tail"] = max(0, min(tail, LOG_MAX_TAIL))
        response = await self.api.call("DescribeEksContainerInstanceLog", params)
        return str(response.get("LogContent") or "")

    async def events(self, instance_id: str) -> list[InstanceEvent]:
        response = await self.api.call("DescribeEKSContainerInstanceEvent", {"EksCiId": instance_id, "Limit": 100})
        return [event_from_api(e) for e in response.get("Events") or []]

    async def probe(self) -> None:
        await self.api.call_once("DescribeEKSContainerInstances", {"Limit": 1})


def _age_key(inst: Instance) -> tuple[float, str]:
    return (inst.created_at.timestamp() if inst.created_at else float("inf"), inst.id)
