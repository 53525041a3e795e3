from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Timestamp(_message.Message):
    __slots__ = ("seconds", "nanos")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    NANOS_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    nanos: int
    def __init__(self, seconds: _Optional[int] = ..., nanos: _Optional[int] = ...) -> None: ...

class RpcStatus(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Exporter(_message.Message):
    __slots__ = ("Type", "Attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    Type: str
    Attrs: _containers.ScalarMap[str, str]
    def __init__(self, Type: _Optional[str] = ..., Attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CacheOptionsEntry(_message.Message):
    __slots__ = ("Type", "Attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    Type: str
    Attrs: _containers.ScalarMap[str, str]
    def __init__(self, Type: _Optional[str] = ..., Attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CacheOptions(_message.Message):
    __slots__ = ("ExportRefDeprecated", "ImportRefsDeprecated", "Exports", "Imports")
    EXPORTREFDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    IMPORTREFSDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    ExportRefDeprecated: str
    ImportRefsDeprecated: _containers.RepeatedScalarFieldContainer[str]
    Exports: _containers.RepeatedCompositeFieldContainer[CacheOptionsEntry]
    Imports: _containers.RepeatedCompositeFieldContainer[CacheOptionsEntry]
    def __init__(self, ExportRefDeprecated: _Optional[str] = ..., ImportRefsDeprecated: _Optional[_Iterable[str]] = ..., Exports: _Optional[_Iterable[_Union[CacheOptionsEntry, _Mapping]]] = ..., Imports: _Optional[_Iterable[_Union[CacheOptionsEntry, _Mapping]]] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("Ref", "Definition", "ExporterDeprecated", "ExporterAttrsDeprecated", "Session", "Frontend", "FrontendAttrs", "Cache", "Entitlements", "FrontendInputs", "Internal", "Exporters", "EnableSessionExporter")
    class ExporterAttrsDeprecatedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FrontendAttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FrontendInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    EXPORTERDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    EXPORTERATTRSDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_FIELD_NUMBER: _ClassVar[int]
    FRONTENDATTRS_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    ENTITLEMENTS_FIELD_NUMBER: _ClassVar[int]
    FRONTENDINPUTS_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    EXPORTERS_FIELD_NUMBER: _ClassVar[int]
    ENABLESESSIONEXPORTER_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    Definition: bytes
    ExporterDeprecated: str
    ExporterAttrsDeprecated: _containers.ScalarMap[str, str]
    Session: str
    Frontend: str
    FrontendAttrs: _containers.ScalarMap[str, str]
    Cache: CacheOptions
    Entitlements: _containers.RepeatedScalarFieldContainer[str]
    FrontendInputs: _containers.ScalarMap[str, bytes]
    Internal: bool
    Exporters: _containers.RepeatedCompositeFieldContainer[Exporter]
    EnableSessionExporter: bool
    def __init__(self, Ref: _Optional[str] = ..., Definition: _Optional[bytes] = ..., ExporterDeprecated: _Optional[str] = ..., ExporterAttrsDeprecated: _Optional[_Mapping[str, str]] = ..., Session: _Optional[str] = ..., Frontend: _Optional[str] = ..., FrontendAttrs: _Optional[_Mapping[str, str]] = ..., Cache: _Optional[_Union[CacheOptions, _Mapping]] = ..., Entitlements: _Optional[_Iterable[str]] = ..., FrontendInputs: _Optional[_Mapping[str, bytes]] = ..., Internal: _Optional[bool] = ..., Exporters: _Optional[_Iterable[_Union[Exporter, _Mapping]]] = ..., EnableSessionExporter: _Optional[bool] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("ExporterResponse",)
    class ExporterResponseEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPORTERRESPONSE_FIELD_NUMBER: _ClassVar[int]
    ExporterResponse: _containers.ScalarMap[str, str]
    def __init__(self, ExporterResponse: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("Ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    Ref: str
    def __init__(self, Ref: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("vertexes", "statuses", "logs")
    VERTEXES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    vertexes: _containers.RepeatedCompositeFieldContainer[Vertex]
    statuses: _containers.RepeatedCompositeFieldContainer[VertexStatus]
    logs: _containers.RepeatedCompositeFieldContainer[VertexLog]
    def __init__(self, vertexes: _Optional[_Iterable[_Union[Vertex, _Mapping]]] = ..., statuses: _Optional[_Iterable[_Union[VertexStatus, _Mapping]]] = ..., logs: _Optional[_Iterable[_Union[VertexLog, _Mapping]]] = ...) -> None: ...

class Vertex(_message.Message):
    __slots__ = ("digest", "inputs", "name", "cached", "started", "completed", "error")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    digest: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    name: str
    cached: bool
    started: Timestamp
    completed: Timestamp
    error: str
    def __init__(self, digest: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., name: _Optional[str] = ..., cached: _Optional[bool] = ..., started: _Optional[_Union[Timestamp, _Mapping]] = ..., completed: _Optional[_Union[Timestamp, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class VertexStatus(_message.Message):
    __slots__ = ("ID", "vertex", "name", "current", "total", "timestamp", "started", "completed")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERTEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ID: str
    vertex: str
    name: str
    current: int
    total: int
    timestamp: Timestamp
    started: Timestamp
    completed: Timestamp
    def __init__(self, ID: _Optional[str] = ..., vertex: _Optional[str] = ..., name: _Optional[str] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., started: _Optional[_Union[Timestamp, _Mapping]] = ..., completed: _Optional[_Union[Timestamp, _Mapping]] = ...) -> None: ...

class VertexLog(_message.Message):
    __slots__ = ("vertex", "timestamp", "stream", "msg")
    VERTEX_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    vertex: str
    timestamp: Timestamp
    stream: int
    msg: bytes
    def __init__(self, vertex: _Optional[str] = ..., timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., stream: _Optional[int] = ..., msg: _Optional[bytes] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filter: _Optional[_Iterable[str]] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: _containers.RepeatedCompositeFieldContainer[WorkerRecord]
    def __init__(self, record: _Optional[_Iterable[_Union[WorkerRecord, _Mapping]]] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("buildkitVersion",)
    BUILDKITVERSION_FIELD_NUMBER: _ClassVar[int]
    buildkitVersion: BuildkitVersion
    def __init__(self, buildkitVersion: _Optional[_Union[BuildkitVersion, _Mapping]] = ...) -> None: ...

class DiskUsageRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filter: _Optional[_Iterable[str]] = ...) -> None: ...

class DiskUsageResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, record: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class PruneRequest(_message.Message):
    __slots__ = ("filter", "all", "keepDuration")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    KEEPDURATION_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    keepDuration: int
    def __init__(self, filter: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ..., keepDuration: _Optional[int] = ...) -> None: ...

class UsageRecord(_message.Message):
    __slots__ = ("ID", "Mutable", "InUse", "Size", "CreatedAt", "LastUsedAt", "UsageCount", "Description", "RecordType", "Shared")
    ID_FIELD_NUMBER: _ClassVar[int]
    MUTABLE_FIELD_NUMBER: _ClassVar[int]
    INUSE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATEDAT_FIELD_NUMBER: _ClassVar[int]
    LASTUSEDAT_FIELD_NUMBER: _ClassVar[int]
    USAGECOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RECORDTYPE_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    ID: str
    Mutable: bool
    InUse: bool
    Size: int
    CreatedAt: Timestamp
    LastUsedAt: Timestamp
    UsageCount: int
    Description: str
    RecordType: str
    Shared: bool
    def __init__(self, ID: _Optional[str] = ..., Mutable: _Optional[bool] = ..., InUse: _Optional[bool] = ..., Size: _Optional[int] = ..., CreatedAt: _Optional[_Union[Timestamp, _Mapping]] = ..., LastUsedAt: _Optional[_Union[Timestamp, _Mapping]] = ..., UsageCount: _Optional[int] = ..., Description: _Optional[str] = ..., RecordType: _Optional[str] = ..., Shared: _Optional[bool] = ...) -> None: ...

class WorkerRecord(_message.Message):
    __slots__ = ("ID", "Labels", "platforms", "BuildkitVersion")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    BUILDKITVERSION_FIELD_NUMBER: _ClassVar[int]
    ID: str
    Labels: _containers.ScalarMap[str, str]
    platforms: _containers.RepeatedCompositeFieldContainer[Platform]
    BuildkitVersion: BuildkitVersion
    def __init__(self, ID: _Optional[str] = ..., Labels: _Optional[_Mapping[str, str]] = ..., platforms: _Optional[_Iterable[_Union[Platform, _Mapping]]] = ..., BuildkitVersion: _Optional[_Union[BuildkitVersion, _Mapping]] = ...) -> None: ...

class Platform(_message.Message):
    __slots__ = ("Architecture", "OS", "Variant")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    Architecture: str
    OS: str
    Variant: str
    def __init__(self, Architecture: _Optional[str] = ..., OS: _Optional[str] = ..., Variant: _Optional[str] = ...) -> None: ...

class BuildkitVersion(_message.Message):
    __slots__ = ("package", "version", "revision")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    package: str
    version: str
    revision: str
    def __init__(self, package: _Optional[str] = ..., version: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...

class APICap(_message.Message):
    __slots__ = ("ID", "Enabled")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ID: str
    Enabled: bool
    def __init__(self, ID: _Optional[str] = ..., Enabled: _Optional[bool] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PongResponse(_message.Message):
    __slots__ = ("FrontendAPICaps", "LLBCaps", "Workers")
    FRONTENDAPICAPS_FIELD_NUMBER: _ClassVar[int]
    LLBCAPS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    FrontendAPICaps: _containers.RepeatedCompositeFieldContainer[APICap]
    LLBCaps: _containers.RepeatedCompositeFieldContainer[APICap]
    Workers: _containers.RepeatedCompositeFieldContainer[WorkerRecord]
    def __init__(self, FrontendAPICaps: _Optional[_Iterable[_Union[APICap, _Mapping]]] = ..., LLBCaps: _Optional[_Iterable[_Union[APICap, _Mapping]]] = ..., Workers: _Optional[_Iterable[_Union[WorkerRecord, _Mapping]]] = ...) -> None: ...

class GatewaySolveRequest(_message.Message):
    __slots__ = ("Definition", "Frontend", "FrontendOpt", "allowResultReturn", "allowResultArrayRef", "Final", "ExporterAttr", "CacheImports", "FrontendInputs", "Evaluate")
    class FrontendOptEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FrontendInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_FIELD_NUMBER: _ClassVar[int]
    FRONTENDOPT_FIELD_NUMBER: _ClassVar[int]
    ALLOWRESULTRETURN_FIELD_NUMBER: _ClassVar[int]
    ALLOWRESULTARRAYREF_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    EXPORTERATTR_FIELD_NUMBER: _ClassVar[int]
    CACHEIMPORTS_FIELD_NUMBER: _ClassVar[int]
    FRONTENDINPUTS_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    Definition: bytes
    Frontend: str
    FrontendOpt: _containers.ScalarMap[str, str]
    allowResultReturn: bool
    allowResultArrayRef: bool
    Final: bool
    ExporterAttr: bytes
    CacheImports: _containers.RepeatedCompositeFieldContainer[CacheOptionsEntry]
    FrontendInputs: _containers.ScalarMap[str, bytes]
    Evaluate: bool
    def __init__(self, Definition: _Optional[bytes] = ..., Frontend: _Optional[str] = ..., FrontendOpt: _Optional[_Mapping[str, str]] = ..., allowResultReturn: _Optional[bool] = ..., allowResultArrayRef: _Optional[bool] = ..., Final: _Optional[bool] = ..., ExporterAttr: _Optional[bytes] = ..., CacheImports: _Optional[_Iterable[_Union[CacheOptionsEntry, _Mapping]]] = ..., FrontendInputs: _Optional[_Mapping[str, bytes]] = ..., Evaluate: _Optional[bool] = ...) -> None: ...

class GatewaySolveResponse(_message.Message):
    __slots__ = ("ref", "result")
    REF_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ref: str
    result: Result
    def __init__(self, ref: _Optional[str] = ..., result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class Ref(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    DEF_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ..., **kwargs) -> None: ...

class RefMap(_message.Message):
    __slots__ = ("refs",)
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Ref
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Ref, _Mapping]] = ...) -> None: ...
    REFS_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.MessageMap[str, Ref]
    def __init__(self, refs: _Optional[_Mapping[str, Ref]] = ...) -> None: ...

class RefMapDeprecated(_message.Message):
    __slots__ = ("refs",)
    class RefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REFS_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.ScalarMap[str, str]
    def __init__(self, refs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("refDeprecated", "refsDeprecated", "ref", "refs", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    REFDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    REFSDEPRECATED_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    refDeprecated: str
    refsDeprecated: RefMapDeprecated
    ref: Ref
    refs: RefMap
    metadata: _containers.ScalarMap[str, bytes]
    def __init__(self, refDeprecated: _Optional[str] = ..., refsDeprecated: _Optional[_Union[RefMapDeprecated, _Mapping]] = ..., ref: _Optional[_Union[Ref, _Mapping]] = ..., refs: _Optional[_Union[RefMap, _Mapping]] = ..., metadata: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class ReturnRequest(_message.Message):
    __slots__ = ("result", "error")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    result: Result
    error: RpcStatus
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., error: _Optional[_Union[RpcStatus, _Mapping]] = ...) -> None: ...

class ReturnResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputsResponse(_message.Message):
    __slots__ = ("Definitions",)
    class DefinitionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    Definitions: _containers.ScalarMap[str, bytes]
    def __init__(self, Definitions: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class Stat(_message.Message):
    __slots__ = ("path", "mode", "uid", "gid", "size", "modTime", "linkname", "devmajor", "devminor", "xattrs")
    class XattrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    GID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODTIME_FIELD_NUMBER: _ClassVar[int]
    LINKNAME_FIELD_NUMBER: _ClassVar[int]
    DEVMAJOR_FIELD_NUMBER: _ClassVar[int]
    DEVMINOR_FIELD_NUMBER: _ClassVar[int]
    XATTRS_FIELD_NUMBER: _ClassVar[int]
    path: str
    mode: int
    uid: int
    gid: int
    size: int
    modTime: int
    linkname: str
    devmajor: int
    devminor: int
    xattrs: _containers.ScalarMap[str, bytes]
    def __init__(self, path: _Optional[str] = ..., mode: _Optional[int] = ..., uid: _Optional[int] = ..., gid: _Optional[int] = ..., size: _Optional[int] = ..., modTime: _Optional[int] = ..., linkname: _Optional[str] = ..., devmajor: _Optional[int] = ..., devminor: _Optional[int] = ..., xattrs: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class Packet(_message.Message):
    __slots__ = ("type", "stat", "ID", "data")
    class PacketType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PACKET_STAT: _ClassVar[Packet.PacketType]
        PACKET_REQ: _ClassVar[Packet.PacketType]
        PACKET_DATA: _ClassVar[Packet.PacketType]
        PACKET_FIN: _ClassVar[Packet.PacketType]
        PACKET_ERR: _ClassVar[Packet.PacketType]
    PACKET_STAT: Packet.PacketType
    PACKET_REQ: Packet.PacketType
    PACKET_DATA: Packet.PacketType
    PACKET_FIN: Packet.PacketType
    PACKET_ERR: Packet.PacketType
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    type: Packet.PacketType
    stat: Stat
    ID: int
    data: bytes
    def __init__(self, type: _Optional[_Union[Packet.PacketType, str]] = ..., stat: _Optional[_Union[Stat, _Mapping]] = ..., ID: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetSecretRequest(_message.Message):
    __slots__ = ("ID", "annotations")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    ID: str
    annotations: _containers.ScalarMap[str, str]
    def __init__(self, ID: _Optional[str] = ..., annotations: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetSecretResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...
