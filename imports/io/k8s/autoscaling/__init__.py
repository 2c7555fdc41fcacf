from __future__ import annotations

from pkgutil import extend_path
__path__ = extend_path(__path__, __name__)

import abc
import builtins
import datetime
import enum
import typing

import jsii
import publication
import typing_extensions

from jsii._type_checking import cached_type_hints, check_type


from ._jsii import *

class _LazyImport:
    def __init__(self, module_name: str) -> None:
        self._module_name = module_name
        self._module: typing.Any = None
    def __getattr__(self, name: str) -> typing.Any:
        if self._module is None:
            import importlib
            self._module = importlib.import_module(self._module_name)
        return getattr(self._module, name)

if typing.TYPE_CHECKING:

    import cdk8s as _cdk8s_d3d9af27
    import constructs as _constructs_77d1e7e8
else:

    _cdk8s_d3d9af27 = _LazyImport("cdk8s")
    _constructs_77d1e7e8 = _LazyImport("constructs")


class VerticalPodAutoscaler(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscaler",
):
    '''VerticalPodAutoscaler is the configuration for a vertical pod autoscaler, which automatically manages pod resources based on historical and real time resource utilization.

    :schema: VerticalPodAutoscaler
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        spec: typing.Union["VerticalPodAutoscalerSpec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "VerticalPodAutoscaler" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__caf59d86d285ee6685b1508c4068ea959df4364adaf893cf0bdee63cda7bf602)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = VerticalPodAutoscalerProps(spec=spec, metadata=metadata)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        spec: typing.Union["VerticalPodAutoscalerSpec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "VerticalPodAutoscaler".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 
        '''
        props = VerticalPodAutoscalerProps(spec=spec, metadata=metadata)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "VerticalPodAutoscaler".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


class VerticalPodAutoscalerCheckpoint(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpoint",
):
    '''VerticalPodAutoscalerCheckpoint is the checkpoint of the internal state of VPA that is used for recovery after recommender's restart.

    :schema: VerticalPodAutoscalerCheckpoint
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "VerticalPodAutoscalerCheckpoint" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__417daf29a0414735a3caff5a1262960997e0629f4d3672d94cc5030c1035a633)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = VerticalPodAutoscalerCheckpointProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "VerticalPodAutoscalerCheckpoint".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        '''
        props = VerticalPodAutoscalerCheckpointProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "VerticalPodAutoscalerCheckpoint".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpointProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class VerticalPodAutoscalerCheckpointProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''VerticalPodAutoscalerCheckpoint is the checkpoint of the internal state of VPA that is used for recovery after recommender's restart.

        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscalerCheckpoint
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = VerticalPodAutoscalerCheckpointSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6c09821f0bd7acf378fc14e7d8baaad633b256459ef04fbf16edbaba8dbc367c)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if metadata is not None:
            self._values["metadata"] = metadata
        if spec is not None:
            self._values["spec"] = spec

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: VerticalPodAutoscalerCheckpoint#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["VerticalPodAutoscalerCheckpointSpec"]:
        '''Specification of the checkpoint.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscalerCheckpoint#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["VerticalPodAutoscalerCheckpointSpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerCheckpointProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpointSpec",
    jsii_struct_bases=[],
    name_mapping={
        "container_name": "containerName",
        "vpa_object_name": "vpaObjectName",
    },
)
class VerticalPodAutoscalerCheckpointSpec:
    def __init__(
        self,
        *,
        container_name: typing.Optional[builtins.str] = None,
        vpa_object_name: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Specification of the checkpoint.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :param container_name: Name of the checkpointed container.
        :param vpa_object_name: Name of the VPA object that stored VerticalPodAutoscalerCheckpoint object.

        :schema: VerticalPodAutoscalerCheckpointSpec
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4926d22a30287a53595e4c60d286da97757a94e8c82011a5a7eac45f0d5471eb)
            check_type(argname="argument container_name", value=container_name, expected_type=type_hints["container_name"])
            check_type(argname="argument vpa_object_name", value=vpa_object_name, expected_type=type_hints["vpa_object_name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_name is not None:
            self._values["container_name"] = container_name
        if vpa_object_name is not None:
            self._values["vpa_object_name"] = vpa_object_name

    @builtins.property
    def container_name(self) -> typing.Optional[builtins.str]:
        '''Name of the checkpointed container.

        :schema: VerticalPodAutoscalerCheckpointSpec#containerName
        '''
        result = self._values.get("container_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def vpa_object_name(self) -> typing.Optional[builtins.str]:
        '''Name of the VPA object that stored VerticalPodAutoscalerCheckpoint object.

        :schema: VerticalPodAutoscalerCheckpointSpec#vpaObjectName
        '''
        result = self._values.get("vpa_object_name")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerCheckpointSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class VerticalPodAutoscalerCheckpointV1Beta2(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpointV1Beta2",
):
    '''VerticalPodAutoscalerCheckpoint is the checkpoint of the internal state of VPA that is used for recovery after recommender's restart.

    :schema: VerticalPodAutoscalerCheckpointV1Beta2
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointV1Beta2Spec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "VerticalPodAutoscalerCheckpointV1Beta2" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e965f8c6b458dc1cd77321285fce0a2d2bc53ac846b7debafdd4e084ab9d0966)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = VerticalPodAutoscalerCheckpointV1Beta2Props(
            metadata=metadata, spec=spec
        )

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointV1Beta2Spec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "VerticalPodAutoscalerCheckpointV1Beta2".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        '''
        props = VerticalPodAutoscalerCheckpointV1Beta2Props(
            metadata=metadata, spec=spec
        )

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "VerticalPodAutoscalerCheckpointV1Beta2".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpointV1Beta2Props",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class VerticalPodAutoscalerCheckpointV1Beta2Props:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VerticalPodAutoscalerCheckpointV1Beta2Spec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''VerticalPodAutoscalerCheckpoint is the checkpoint of the internal state of VPA that is used for recovery after recommender's restart.

        :param metadata: 
        :param spec: Specification of the checkpoint. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscalerCheckpointV1Beta2
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = VerticalPodAutoscalerCheckpointV1Beta2Spec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a3056128a13898c38734cd5a9c41636e80201bd29082acb7843438509646ab48)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if metadata is not None:
            self._values["metadata"] = metadata
        if spec is not None:
            self._values["spec"] = spec

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: VerticalPodAutoscalerCheckpointV1Beta2#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["VerticalPodAutoscalerCheckpointV1Beta2Spec"]:
        '''Specification of the checkpoint.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscalerCheckpointV1Beta2#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["VerticalPodAutoscalerCheckpointV1Beta2Spec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerCheckpointV1Beta2Props(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerCheckpointV1Beta2Spec",
    jsii_struct_bases=[],
    name_mapping={
        "container_name": "containerName",
        "vpa_object_name": "vpaObjectName",
    },
)
class VerticalPodAutoscalerCheckpointV1Beta2Spec:
    def __init__(
        self,
        *,
        container_name: typing.Optional[builtins.str] = None,
        vpa_object_name: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Specification of the checkpoint.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :param container_name: Name of the checkpointed container.
        :param vpa_object_name: Name of the VPA object that stored VerticalPodAutoscalerCheckpoint object.

        :schema: VerticalPodAutoscalerCheckpointV1Beta2Spec
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8b3f23f9542562f2c369c0a5d837e33dbbb7622ce2bcd688da1c58b93ed20a62)
            check_type(argname="argument container_name", value=container_name, expected_type=type_hints["container_name"])
            check_type(argname="argument vpa_object_name", value=vpa_object_name, expected_type=type_hints["vpa_object_name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_name is not None:
            self._values["container_name"] = container_name
        if vpa_object_name is not None:
            self._values["vpa_object_name"] = vpa_object_name

    @builtins.property
    def container_name(self) -> typing.Optional[builtins.str]:
        '''Name of the checkpointed container.

        :schema: VerticalPodAutoscalerCheckpointV1Beta2Spec#containerName
        '''
        result = self._values.get("container_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def vpa_object_name(self) -> typing.Optional[builtins.str]:
        '''Name of the VPA object that stored VerticalPodAutoscalerCheckpoint object.

        :schema: VerticalPodAutoscalerCheckpointV1Beta2Spec#vpaObjectName
        '''
        result = self._values.get("vpa_object_name")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerCheckpointV1Beta2Spec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerProps",
    jsii_struct_bases=[],
    name_mapping={"spec": "spec", "metadata": "metadata"},
)
class VerticalPodAutoscalerProps:
    def __init__(
        self,
        *,
        spec: typing.Union["VerticalPodAutoscalerSpec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''VerticalPodAutoscaler is the configuration for a vertical pod autoscaler, which automatically manages pod resources based on historical and real time resource utilization.

        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 

        :schema: VerticalPodAutoscaler
        '''
        if isinstance(spec, dict):
            spec = VerticalPodAutoscalerSpec(**spec)
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9fdd7c3f96f7a745f9e5cfc2908bb1ce7c61c78028c1c29dbd8a9b6d659de3cd)
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "spec": spec,
        }
        if metadata is not None:
            self._values["metadata"] = metadata

    @builtins.property
    def spec(self) -> "VerticalPodAutoscalerSpec":
        '''Specification of the behavior of the autoscaler.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscaler#spec
        '''
        result = self._values.get("spec")
        assert result is not None, "Required property 'spec' is missing"
        return typing.cast("VerticalPodAutoscalerSpec", result)

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: VerticalPodAutoscaler#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpec",
    jsii_struct_bases=[],
    name_mapping={
        "target_ref": "targetRef",
        "recommenders": "recommenders",
        "resource_policy": "resourcePolicy",
        "startup_boost": "startupBoost",
        "update_policy": "updatePolicy",
    },
)
class VerticalPodAutoscalerSpec:
    def __init__(
        self,
        *,
        target_ref: typing.Union["VerticalPodAutoscalerSpecTargetRef", typing.Dict[builtins.str, typing.Any]],
        recommenders: typing.Optional[typing.Sequence[typing.Union["VerticalPodAutoscalerSpecRecommenders", typing.Dict[builtins.str, typing.Any]]]] = None,
        resource_policy: typing.Optional[typing.Union["VerticalPodAutoscalerSpecResourcePolicy", typing.Dict[builtins.str, typing.Any]]] = None,
        startup_boost: typing.Optional[typing.Union["VerticalPodAutoscalerSpecStartupBoost", typing.Dict[builtins.str, typing.Any]]] = None,
        update_policy: typing.Optional[typing.Union["VerticalPodAutoscalerSpecUpdatePolicy", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Specification of the behavior of the autoscaler.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :param target_ref: TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.
        :param recommenders: Recommender responsible for generating recommendation for this object. List should be empty (then the default recommender will generate the recommendation) or contain exactly one recommender.
        :param resource_policy: Controls how the autoscaler computes recommended resources. The resource policy may be used to set constraints on the recommendations for individual containers. If any individual containers need to be excluded from getting the VPA recommendations, then it must be disabled explicitly by setting mode to "Off" under containerPolicies. If not specified, the autoscaler computes recommended resources for all containers in the pod, without additional constraints.
        :param startup_boost: startupBoost specifies the startup boost policy for the pod.
        :param update_policy: Describes the rules on how changes are applied to the pods. If not specified, all fields in the ``PodUpdatePolicy`` are set to their default values.

        :schema: VerticalPodAutoscalerSpec
        '''
        if isinstance(target_ref, dict):
            target_ref = VerticalPodAutoscalerSpecTargetRef(**target_ref)
        if isinstance(resource_policy, dict):
            resource_policy = VerticalPodAutoscalerSpecResourcePolicy(**resource_policy)
        if isinstance(startup_boost, dict):
            startup_boost = VerticalPodAutoscalerSpecStartupBoost(**startup_boost)
        if isinstance(update_policy, dict):
            update_policy = VerticalPodAutoscalerSpecUpdatePolicy(**update_policy)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__aad6783c71127d8ab5dcca718acfc5e5ac0c4b9eac186e46f316e34aad7bf2c1)
            check_type(argname="argument target_ref", value=target_ref, expected_type=type_hints["target_ref"])
            check_type(argname="argument recommenders", value=recommenders, expected_type=type_hints["recommenders"])
            check_type(argname="argument resource_policy", value=resource_policy, expected_type=type_hints["resource_policy"])
            check_type(argname="argument startup_boost", value=startup_boost, expected_type=type_hints["startup_boost"])
            check_type(argname="argument update_policy", value=update_policy, expected_type=type_hints["update_policy"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "target_ref": target_ref,
        }
        if recommenders is not None:
            self._values["recommenders"] = recommenders
        if resource_policy is not None:
            self._values["resource_policy"] = resource_policy
        if startup_boost is not None:
            self._values["startup_boost"] = startup_boost
        if update_policy is not None:
            self._values["update_policy"] = update_policy

    @builtins.property
    def target_ref(self) -> "VerticalPodAutoscalerSpecTargetRef":
        '''TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.

        :schema: VerticalPodAutoscalerSpec#targetRef
        '''
        result = self._values.get("target_ref")
        assert result is not None, "Required property 'target_ref' is missing"
        return typing.cast("VerticalPodAutoscalerSpecTargetRef", result)

    @builtins.property
    def recommenders(
        self,
    ) -> typing.Optional[typing.List["VerticalPodAutoscalerSpecRecommenders"]]:
        '''Recommender responsible for generating recommendation for this object.

        List should be empty (then the default recommender will generate the
        recommendation) or contain exactly one recommender.

        :schema: VerticalPodAutoscalerSpec#recommenders
        '''
        result = self._values.get("recommenders")
        return typing.cast(typing.Optional[typing.List["VerticalPodAutoscalerSpecRecommenders"]], result)

    @builtins.property
    def resource_policy(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicy"]:
        '''Controls how the autoscaler computes recommended resources.

        The resource policy may be used to set constraints on the recommendations
        for individual containers.
        If any individual containers need to be excluded from getting the VPA recommendations, then
        it must be disabled explicitly by setting mode to "Off" under containerPolicies.
        If not specified, the autoscaler computes recommended resources for all containers in the pod,
        without additional constraints.

        :schema: VerticalPodAutoscalerSpec#resourcePolicy
        '''
        result = self._values.get("resource_policy")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicy"], result)

    @builtins.property
    def startup_boost(self) -> typing.Optional["VerticalPodAutoscalerSpecStartupBoost"]:
        '''startupBoost specifies the startup boost policy for the pod.

        :schema: VerticalPodAutoscalerSpec#startupBoost
        '''
        result = self._values.get("startup_boost")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecStartupBoost"], result)

    @builtins.property
    def update_policy(self) -> typing.Optional["VerticalPodAutoscalerSpecUpdatePolicy"]:
        '''Describes the rules on how changes are applied to the pods.

        If not specified, all fields in the ``PodUpdatePolicy`` are set to their
        default values.

        :schema: VerticalPodAutoscalerSpec#updatePolicy
        '''
        result = self._values.get("update_policy")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecUpdatePolicy"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecRecommenders",
    jsii_struct_bases=[],
    name_mapping={"name": "name"},
)
class VerticalPodAutoscalerSpecRecommenders:
    def __init__(self, *, name: builtins.str) -> None:
        '''VerticalPodAutoscalerRecommenderSelector points to a specific Vertical Pod Autoscaler recommender.

        In the future it might pass parameters to the recommender.

        :param name: Name of the recommender responsible for generating recommendation for this object.

        :schema: VerticalPodAutoscalerSpecRecommenders
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__3e5198b23f37399ac14dd9bde4cc16da589345871e41914d8ae0fa2e1196edd7)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the recommender responsible for generating recommendation for this object.

        :schema: VerticalPodAutoscalerSpecRecommenders#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecRecommenders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicy",
    jsii_struct_bases=[],
    name_mapping={"container_policies": "containerPolicies"},
)
class VerticalPodAutoscalerSpecResourcePolicy:
    def __init__(
        self,
        *,
        container_policies: typing.Optional[typing.Sequence[typing.Union["VerticalPodAutoscalerSpecResourcePolicyContainerPolicies", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Controls how the autoscaler computes recommended resources.

        The resource policy may be used to set constraints on the recommendations
        for individual containers.
        If any individual containers need to be excluded from getting the VPA recommendations, then
        it must be disabled explicitly by setting mode to "Off" under containerPolicies.
        If not specified, the autoscaler computes recommended resources for all containers in the pod,
        without additional constraints.

        :param container_policies: Per-container resource policies.

        :schema: VerticalPodAutoscalerSpecResourcePolicy
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d666228e8864efcd5ac2ea04f382409466aa693b59fd9f519c6436b7051bd6f5)
            check_type(argname="argument container_policies", value=container_policies, expected_type=type_hints["container_policies"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_policies is not None:
            self._values["container_policies"] = container_policies

    @builtins.property
    def container_policies(
        self,
    ) -> typing.Optional[typing.List["VerticalPodAutoscalerSpecResourcePolicyContainerPolicies"]]:
        '''Per-container resource policies.

        :schema: VerticalPodAutoscalerSpecResourcePolicy#containerPolicies
        '''
        result = self._values.get("container_policies")
        return typing.cast(typing.Optional[typing.List["VerticalPodAutoscalerSpecResourcePolicyContainerPolicies"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecResourcePolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPolicies",
    jsii_struct_bases=[],
    name_mapping={
        "container_name": "containerName",
        "controlled_resources": "controlledResources",
        "controlled_values": "controlledValues",
        "max_allowed": "maxAllowed",
        "memory_aggregation_interval_count": "memoryAggregationIntervalCount",
        "memory_aggregation_interval_seconds": "memoryAggregationIntervalSeconds",
        "min_allowed": "minAllowed",
        "mode": "mode",
        "oom_bump_up_ratio": "oomBumpUpRatio",
        "oom_min_bump_up": "oomMinBumpUp",
        "startup_boost": "startupBoost",
        "target_cpu_percentile": "targetCpuPercentile",
        "target_memory_percentile": "targetMemoryPercentile",
    },
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPolicies:
    def __init__(
        self,
        *,
        container_name: typing.Optional[builtins.str] = None,
        controlled_resources: typing.Optional[typing.Sequence[builtins.str]] = None,
        controlled_values: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues"] = None,
        max_allowed: typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed"]] = None,
        memory_aggregation_interval_count: typing.Optional[jsii.Number] = None,
        memory_aggregation_interval_seconds: typing.Optional[jsii.Number] = None,
        min_allowed: typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed"]] = None,
        mode: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode"] = None,
        oom_bump_up_ratio: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio"] = None,
        oom_min_bump_up: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp"] = None,
        startup_boost: typing.Optional[typing.Union["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost", typing.Dict[builtins.str, typing.Any]]] = None,
        target_cpu_percentile: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile"] = None,
        target_memory_percentile: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile"] = None,
    ) -> None:
        '''ContainerResourcePolicy controls how autoscaler computes the recommended resources for a specific container.

        :param container_name: Name of the container or DefaultContainerResourcePolicy, in which case the policy is used by the containers that don't have their own policy specified.
        :param controlled_resources: Specifies the type of recommendations that will be computed (and possibly applied) by VPA. If not specified, the default of [cpu, memory] will be used.
        :param controlled_values: Specifies which resource values should be controlled. The default is "RequestsAndLimits".
        :param max_allowed: Specifies the maximum amount of resources that will be recommended for the container. The default is no maximum.
        :param memory_aggregation_interval_count: memoryAggregationIntervalCount is the number of consecutive memoryAggregationIntervals which make up the memory aggregation window. The total window length is: MemoryAggregationIntervalSeconds * MemoryAggregationIntervalCount.
        :param memory_aggregation_interval_seconds: memoryAggregationIntervalSeconds is the length of a single interval (in seconds) for which the peak memory usage is computed. Memory usage peaks are aggregated in multiples of this interval. In other words, there is one memory usage sample per interval (the maximum usage over that interval).
        :param min_allowed: Specifies the minimal amount of resources that will be recommended for the container. The default is no minimum.
        :param mode: Whether autoscaler is enabled for the container. The default is "Auto".
        :param oom_bump_up_ratio: oomBumpUpRatio is the ratio to increase memory when OOM is detected.
        :param oom_min_bump_up: oomMinBumpUp is the minimum increase in memory when OOM is detected.
        :param startup_boost: startupBoost specifies the startup boost policy for the container. This overrides any pod-level startup boost policy. The startup boost policy takes precedence over the rest of the fields in this struct, except for ContainerName and ControlledValues.
        :param target_cpu_percentile: targetCPUPercentile is the CPU usage percentile used as the target for the recommendation, overriding the global --target-cpu-percentile flag for this container. Must be in (0, 1], for example 0.9 for the 90th percentile.
        :param target_memory_percentile: targetMemoryPercentile is the memory usage percentile used as the target for the recommendation, overriding the global --target-memory-percentile flag for this container. Must be in (0, 1], for example 0.9 for the 90th percentile.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies
        '''
        if isinstance(startup_boost, dict):
            startup_boost = VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost(**startup_boost)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__20e39dd603c99d3d3deb05326547159fd6fe9e3b7008f5a98634351e64953eb1)
            check_type(argname="argument container_name", value=container_name, expected_type=type_hints["container_name"])
            check_type(argname="argument controlled_resources", value=controlled_resources, expected_type=type_hints["controlled_resources"])
            check_type(argname="argument controlled_values", value=controlled_values, expected_type=type_hints["controlled_values"])
            check_type(argname="argument max_allowed", value=max_allowed, expected_type=type_hints["max_allowed"])
            check_type(argname="argument memory_aggregation_interval_count", value=memory_aggregation_interval_count, expected_type=type_hints["memory_aggregation_interval_count"])
            check_type(argname="argument memory_aggregation_interval_seconds", value=memory_aggregation_interval_seconds, expected_type=type_hints["memory_aggregation_interval_seconds"])
            check_type(argname="argument min_allowed", value=min_allowed, expected_type=type_hints["min_allowed"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument oom_bump_up_ratio", value=oom_bump_up_ratio, expected_type=type_hints["oom_bump_up_ratio"])
            check_type(argname="argument oom_min_bump_up", value=oom_min_bump_up, expected_type=type_hints["oom_min_bump_up"])
            check_type(argname="argument startup_boost", value=startup_boost, expected_type=type_hints["startup_boost"])
            check_type(argname="argument target_cpu_percentile", value=target_cpu_percentile, expected_type=type_hints["target_cpu_percentile"])
            check_type(argname="argument target_memory_percentile", value=target_memory_percentile, expected_type=type_hints["target_memory_percentile"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_name is not None:
            self._values["container_name"] = container_name
        if controlled_resources is not None:
            self._values["controlled_resources"] = controlled_resources
        if controlled_values is not None:
            self._values["controlled_values"] = controlled_values
        if max_allowed is not None:
            self._values["max_allowed"] = max_allowed
        if memory_aggregation_interval_count is not None:
            self._values["memory_aggregation_interval_count"] = memory_aggregation_interval_count
        if memory_aggregation_interval_seconds is not None:
            self._values["memory_aggregation_interval_seconds"] = memory_aggregation_interval_seconds
        if min_allowed is not None:
            self._values["min_allowed"] = min_allowed
        if mode is not None:
            self._values["mode"] = mode
        if oom_bump_up_ratio is not None:
            self._values["oom_bump_up_ratio"] = oom_bump_up_ratio
        if oom_min_bump_up is not None:
            self._values["oom_min_bump_up"] = oom_min_bump_up
        if startup_boost is not None:
            self._values["startup_boost"] = startup_boost
        if target_cpu_percentile is not None:
            self._values["target_cpu_percentile"] = target_cpu_percentile
        if target_memory_percentile is not None:
            self._values["target_memory_percentile"] = target_memory_percentile

    @builtins.property
    def container_name(self) -> typing.Optional[builtins.str]:
        '''Name of the container or DefaultContainerResourcePolicy, in which case the policy is used by the containers that don't have their own policy specified.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#containerName
        '''
        result = self._values.get("container_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def controlled_resources(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Specifies the type of recommendations that will be computed (and possibly applied) by VPA.

        If not specified, the default of [cpu, memory] will be used.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#controlledResources
        '''
        result = self._values.get("controlled_resources")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def controlled_values(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues"]:
        '''Specifies which resource values should be controlled.

        The default is "RequestsAndLimits".

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#controlledValues
        '''
        result = self._values.get("controlled_values")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues"], result)

    @builtins.property
    def max_allowed(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed"]]:
        '''Specifies the maximum amount of resources that will be recommended for the container.

        The default is no maximum.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#maxAllowed
        '''
        result = self._values.get("max_allowed")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed"]], result)

    @builtins.property
    def memory_aggregation_interval_count(self) -> typing.Optional[jsii.Number]:
        '''memoryAggregationIntervalCount is the number of consecutive memoryAggregationIntervals which make up the memory aggregation window.

        The total window length is:
        MemoryAggregationIntervalSeconds * MemoryAggregationIntervalCount.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#memoryAggregationIntervalCount
        '''
        result = self._values.get("memory_aggregation_interval_count")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def memory_aggregation_interval_seconds(self) -> typing.Optional[jsii.Number]:
        '''memoryAggregationIntervalSeconds is the length of a single interval (in seconds) for which the peak memory usage is computed.

        Memory usage peaks are aggregated in multiples of this interval.
        In other words, there is one memory usage sample per interval
        (the maximum usage over that interval).

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#memoryAggregationIntervalSeconds
        '''
        result = self._values.get("memory_aggregation_interval_seconds")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def min_allowed(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed"]]:
        '''Specifies the minimal amount of resources that will be recommended for the container.

        The default is no minimum.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#minAllowed
        '''
        result = self._values.get("min_allowed")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed"]], result)

    @builtins.property
    def mode(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode"]:
        '''Whether autoscaler is enabled for the container.

        The default is "Auto".

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode"], result)

    @builtins.property
    def oom_bump_up_ratio(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio"]:
        '''oomBumpUpRatio is the ratio to increase memory when OOM is detected.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#oomBumpUpRatio
        '''
        result = self._values.get("oom_bump_up_ratio")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio"], result)

    @builtins.property
    def oom_min_bump_up(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp"]:
        '''oomMinBumpUp is the minimum increase in memory when OOM is detected.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#oomMinBumpUp
        '''
        result = self._values.get("oom_min_bump_up")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp"], result)

    @builtins.property
    def startup_boost(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost"]:
        '''startupBoost specifies the startup boost policy for the container.

        This overrides any pod-level startup boost policy.
        The startup boost policy takes precedence over the rest of the fields in
        this struct, except for ContainerName and ControlledValues.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#startupBoost
        '''
        result = self._values.get("startup_boost")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost"], result)

    @builtins.property
    def target_cpu_percentile(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile"]:
        '''targetCPUPercentile is the CPU usage percentile used as the target for the recommendation, overriding the global --target-cpu-percentile flag for this container.

        Must be in (0, 1], for example 0.9 for the 90th
        percentile.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#targetCPUPercentile
        '''
        result = self._values.get("target_cpu_percentile")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile"], result)

    @builtins.property
    def target_memory_percentile(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile"]:
        '''targetMemoryPercentile is the memory usage percentile used as the target for the recommendation, overriding the global --target-memory-percentile flag for this container.

        Must be in (0, 1],
        for example 0.9 for the 90th percentile.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPolicies#targetMemoryPercentile
        '''
        result = self._values.get("target_memory_percentile")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecResourcePolicyContainerPolicies(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues"
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues(
    enum.Enum,
):
    '''Specifies which resource values should be controlled.

    The default is "RequestsAndLimits".

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues
    '''

    REQUESTS_AND_LIMITS = "REQUESTS_AND_LIMITS"
    '''RequestsAndLimits.'''
    REQUESTS_ONLY = "REQUESTS_ONLY"
    '''RequestsOnly.'''


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed",
):
    '''
    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5a3489df3481bf643eba8891e566a27cb7a905ce3bc7a75836f55e77cea812ce)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1149315f4d028ce0f7fb1a6f25223eae226e5cacb95c987bb93237bde6b3f708)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed",
):
    '''
    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__0d73f677b6a482dbb3b55973d80ae592e9d8c000e9b9e097a4bba666ae8624ef)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__48e1ef241fc712d94bafc6720c9dbdf04454d7347d241bf8e7b39f821f87b9c6)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode"
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode(enum.Enum):
    '''Whether autoscaler is enabled for the container.

    The default is "Auto".

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode
    '''

    AUTO = "AUTO"
    '''Auto.'''
    OFF = "OFF"
    '''Off.'''


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio",
):
    '''oomBumpUpRatio is the ratio to increase memory when OOM is detected.

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__693448f123b9a90a95759ecf2b1e7e25d31c25a7d20ad327bca95e4d139dc9e6)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2784a094ae765b69740bd754165c654fb9ec42b095015896d7dffc39da92dd59)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp",
):
    '''oomMinBumpUp is the minimum increase in memory when OOM is detected.

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__141812394b9ad99956e4b10ae49e31482ae4a2e1e3e6539c5c49684f94816a93)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d653b2712752a2fa0a083e6f29cddf8eed6d3e7d040a856b68597fc040631c92)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost",
    jsii_struct_bases=[],
    name_mapping={"cpu": "cpu"},
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost:
    def __init__(
        self,
        *,
        cpu: typing.Optional[typing.Union["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''startupBoost specifies the startup boost policy for the container.

        This overrides any pod-level startup boost policy.
        The startup boost policy takes precedence over the rest of the fields in
        this struct, except for ContainerName and ControlledValues.

        :param cpu: cpu specifies the CPU startup boost policy. If this field is not set, no startup boost is applied.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost
        '''
        if isinstance(cpu, dict):
            cpu = VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu(**cpu)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__53f99f37924dc3ba777e957b8ffdcc8f7437c213b4fd0f7901a816e3b6a93394)
            check_type(argname="argument cpu", value=cpu, expected_type=type_hints["cpu"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if cpu is not None:
            self._values["cpu"] = cpu

    @builtins.property
    def cpu(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu"]:
        '''cpu specifies the CPU startup boost policy.

        If this field is not set, no startup boost is applied.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost#cpu
        '''
        result = self._values.get("cpu")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu",
    jsii_struct_bases=[],
    name_mapping={
        "type": "type",
        "duration_seconds": "durationSeconds",
        "factor": "factor",
        "quantity": "quantity",
    },
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu:
    def __init__(
        self,
        *,
        type: "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType",
        duration_seconds: typing.Optional[jsii.Number] = None,
        factor: typing.Optional[jsii.Number] = None,
        quantity: typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity"] = None,
    ) -> None:
        '''cpu specifies the CPU startup boost policy.

        If this field is not set, no startup boost is applied.

        :param type: type specifies the kind of boost to apply. Supported values are: "Factor", "Quantity". No startupboost will be applied for unrecognized values.
        :param duration_seconds: durationSeconds indicates for how long to keep the pod boosted after it goes to Ready. Defaults to 0. Default: 0.
        :param factor: factor specifies the factor to apply to the resource request. This field is required when Type is "Factor".
        :param quantity: quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase. This field is required when Type is "Quantity".

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ae81f4b3d36649484ebf51ebad8fd231af2c28b5717b3718db9583cece24ce0a)
            check_type(argname="argument type", value=type, expected_type=type_hints["type"])
            check_type(argname="argument duration_seconds", value=duration_seconds, expected_type=type_hints["duration_seconds"])
            check_type(argname="argument factor", value=factor, expected_type=type_hints["factor"])
            check_type(argname="argument quantity", value=quantity, expected_type=type_hints["quantity"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "type": type,
        }
        if duration_seconds is not None:
            self._values["duration_seconds"] = duration_seconds
        if factor is not None:
            self._values["factor"] = factor
        if quantity is not None:
            self._values["quantity"] = quantity

    @builtins.property
    def type(
        self,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType":
        '''type specifies the kind of boost to apply.

        Supported values are: "Factor", "Quantity".
        No startupboost will be applied for unrecognized values.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu#type
        '''
        result = self._values.get("type")
        assert result is not None, "Required property 'type' is missing"
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType", result)

    @builtins.property
    def duration_seconds(self) -> typing.Optional[jsii.Number]:
        '''durationSeconds indicates for how long to keep the pod boosted after it goes to Ready.

        Defaults to 0.

        :default: 0.

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu#durationSeconds
        '''
        result = self._values.get("duration_seconds")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def factor(self) -> typing.Optional[jsii.Number]:
        '''factor specifies the factor to apply to the resource request.

        This field is required when Type is "Factor".

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu#factor
        '''
        result = self._values.get("factor")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def quantity(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity"]:
        '''quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase.

        This field is required when Type is "Quantity".

        :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu#quantity
        '''
        result = self._values.get("quantity")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity",
):
    '''quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase.

    This field is required when Type is "Quantity".

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__13af68625e2d6185aacb4b10a18fcc118c4dd971de14210c7608a316df1cbc76)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6a3b31f4ed6940842ed03fbfbe6fbd1a1c9fb4f83d2034a9ff6d11693a936889)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType"
)
class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType(
    enum.Enum,
):
    '''type specifies the kind of boost to apply.

    Supported values are: "Factor", "Quantity".
    No startupboost will be applied for unrecognized values.

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType
    '''

    FACTOR = "FACTOR"
    '''Factor.'''
    QUANTITY = "QUANTITY"
    '''Quantity.'''


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile",
):
    '''targetCPUPercentile is the CPU usage percentile used as the target for the recommendation, overriding the global --target-cpu-percentile flag for this container.

    Must be in (0, 1], for example 0.9 for the 90th
    percentile.

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8cc98db82c7a3831696a4c933a0328a021eb51a8436fec85a49990938f2f6e56)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7388f461f17db581c8afa75ada82f71b5d2ae4fac5e7a8751618314feea85cc3)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


class VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile",
):
    '''targetMemoryPercentile is the memory usage percentile used as the target for the recommendation, overriding the global --target-memory-percentile flag for this container.

    Must be in (0, 1],
    for example 0.9 for the 90th percentile.

    :schema: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__eb2e2cdf506ef8f8b8bb3ba465c936fe27a3afde40faa1b4483463266353b2bd)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__10add11bbcffff8f8a2b80d6684bc8af0efc25d94a89f42a5af71e73b5b5b47f)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecStartupBoost",
    jsii_struct_bases=[],
    name_mapping={"cpu": "cpu"},
)
class VerticalPodAutoscalerSpecStartupBoost:
    def __init__(
        self,
        *,
        cpu: typing.Optional[typing.Union["VerticalPodAutoscalerSpecStartupBoostCpu", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''startupBoost specifies the startup boost policy for the pod.

        :param cpu: cpu specifies the CPU startup boost policy. If this field is not set, no startup boost is applied.

        :schema: VerticalPodAutoscalerSpecStartupBoost
        '''
        if isinstance(cpu, dict):
            cpu = VerticalPodAutoscalerSpecStartupBoostCpu(**cpu)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1b1e041b86540efe4cd67c092554b5ff23d87028803213c530c078cea1c4380e)
            check_type(argname="argument cpu", value=cpu, expected_type=type_hints["cpu"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if cpu is not None:
            self._values["cpu"] = cpu

    @builtins.property
    def cpu(self) -> typing.Optional["VerticalPodAutoscalerSpecStartupBoostCpu"]:
        '''cpu specifies the CPU startup boost policy.

        If this field is not set, no startup boost is applied.

        :schema: VerticalPodAutoscalerSpecStartupBoost#cpu
        '''
        result = self._values.get("cpu")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecStartupBoostCpu"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecStartupBoost(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecStartupBoostCpu",
    jsii_struct_bases=[],
    name_mapping={
        "type": "type",
        "duration_seconds": "durationSeconds",
        "factor": "factor",
        "quantity": "quantity",
    },
)
class VerticalPodAutoscalerSpecStartupBoostCpu:
    def __init__(
        self,
        *,
        type: "VerticalPodAutoscalerSpecStartupBoostCpuType",
        duration_seconds: typing.Optional[jsii.Number] = None,
        factor: typing.Optional[jsii.Number] = None,
        quantity: typing.Optional["VerticalPodAutoscalerSpecStartupBoostCpuQuantity"] = None,
    ) -> None:
        '''cpu specifies the CPU startup boost policy.

        If this field is not set, no startup boost is applied.

        :param type: type specifies the kind of boost to apply. Supported values are: "Factor", "Quantity". No startupboost will be applied for unrecognized values.
        :param duration_seconds: durationSeconds indicates for how long to keep the pod boosted after it goes to Ready. Defaults to 0. Default: 0.
        :param factor: factor specifies the factor to apply to the resource request. This field is required when Type is "Factor".
        :param quantity: quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase. This field is required when Type is "Quantity".

        :schema: VerticalPodAutoscalerSpecStartupBoostCpu
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__14a74c3e686b79d0345281e20a2f0b5be491a5f2c66cfcf9861f26f784a23964)
            check_type(argname="argument type", value=type, expected_type=type_hints["type"])
            check_type(argname="argument duration_seconds", value=duration_seconds, expected_type=type_hints["duration_seconds"])
            check_type(argname="argument factor", value=factor, expected_type=type_hints["factor"])
            check_type(argname="argument quantity", value=quantity, expected_type=type_hints["quantity"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "type": type,
        }
        if duration_seconds is not None:
            self._values["duration_seconds"] = duration_seconds
        if factor is not None:
            self._values["factor"] = factor
        if quantity is not None:
            self._values["quantity"] = quantity

    @builtins.property
    def type(self) -> "VerticalPodAutoscalerSpecStartupBoostCpuType":
        '''type specifies the kind of boost to apply.

        Supported values are: "Factor", "Quantity".
        No startupboost will be applied for unrecognized values.

        :schema: VerticalPodAutoscalerSpecStartupBoostCpu#type
        '''
        result = self._values.get("type")
        assert result is not None, "Required property 'type' is missing"
        return typing.cast("VerticalPodAutoscalerSpecStartupBoostCpuType", result)

    @builtins.property
    def duration_seconds(self) -> typing.Optional[jsii.Number]:
        '''durationSeconds indicates for how long to keep the pod boosted after it goes to Ready.

        Defaults to 0.

        :default: 0.

        :schema: VerticalPodAutoscalerSpecStartupBoostCpu#durationSeconds
        '''
        result = self._values.get("duration_seconds")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def factor(self) -> typing.Optional[jsii.Number]:
        '''factor specifies the factor to apply to the resource request.

        This field is required when Type is "Factor".

        :schema: VerticalPodAutoscalerSpecStartupBoostCpu#factor
        '''
        result = self._values.get("factor")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def quantity(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecStartupBoostCpuQuantity"]:
        '''quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase.

        This field is required when Type is "Quantity".

        :schema: VerticalPodAutoscalerSpecStartupBoostCpu#quantity
        '''
        result = self._values.get("quantity")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecStartupBoostCpuQuantity"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecStartupBoostCpu(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class VerticalPodAutoscalerSpecStartupBoostCpuQuantity(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecStartupBoostCpuQuantity",
):
    '''quantity specifies the absolute resource quantity to be used as the resource request and limit during the boost phase.

    This field is required when Type is "Quantity".

    :schema: VerticalPodAutoscalerSpecStartupBoostCpuQuantity
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerSpecStartupBoostCpuQuantity":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b8354f36311df3be37c7681f547e78540525f410a3a81a44b62e1fc181d29ab1)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecStartupBoostCpuQuantity", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerSpecStartupBoostCpuQuantity":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5d099a32aa7a375854d28ddbac10023165bce6c378e1619473da25032bf6780b)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerSpecStartupBoostCpuQuantity", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.enum(jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecStartupBoostCpuType")
class VerticalPodAutoscalerSpecStartupBoostCpuType(enum.Enum):
    '''type specifies the kind of boost to apply.

    Supported values are: "Factor", "Quantity".
    No startupboost will be applied for unrecognized values.

    :schema: VerticalPodAutoscalerSpecStartupBoostCpuType
    '''

    FACTOR = "FACTOR"
    '''Factor.'''
    QUANTITY = "QUANTITY"
    '''Quantity.'''


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecTargetRef",
    jsii_struct_bases=[],
    name_mapping={"kind": "kind", "name": "name", "api_version": "apiVersion"},
)
class VerticalPodAutoscalerSpecTargetRef:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        api_version: typing.Optional[builtins.str] = None,
    ) -> None:
        '''TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.

        :param kind: kind is the kind of the referent; More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds
        :param name: name is the name of the referent; More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names
        :param api_version: apiVersion is the API version of the referent.

        :schema: VerticalPodAutoscalerSpecTargetRef
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9f7e1cdc947c495ae1aa36536adc3a83321ba4c464768bf26354e40e3055ae51)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument api_version", value=api_version, expected_type=type_hints["api_version"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if api_version is not None:
            self._values["api_version"] = api_version

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is the kind of the referent;

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds

        :schema: VerticalPodAutoscalerSpecTargetRef#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the referent;

        More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names

        :schema: VerticalPodAutoscalerSpecTargetRef#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def api_version(self) -> typing.Optional[builtins.str]:
        '''apiVersion is the API version of the referent.

        :schema: VerticalPodAutoscalerSpecTargetRef#apiVersion
        '''
        result = self._values.get("api_version")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecTargetRef(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecUpdatePolicy",
    jsii_struct_bases=[],
    name_mapping={
        "evict_after_oom_seconds": "evictAfterOomSeconds",
        "eviction_requirements": "evictionRequirements",
        "min_replicas": "minReplicas",
        "update_mode": "updateMode",
    },
)
class VerticalPodAutoscalerSpecUpdatePolicy:
    def __init__(
        self,
        *,
        evict_after_oom_seconds: typing.Optional[jsii.Number] = None,
        eviction_requirements: typing.Optional[typing.Sequence[typing.Union["VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements", typing.Dict[builtins.str, typing.Any]]]] = None,
        min_replicas: typing.Optional[jsii.Number] = None,
        update_mode: typing.Optional["VerticalPodAutoscalerSpecUpdatePolicyUpdateMode"] = None,
    ) -> None:
        '''Describes the rules on how changes are applied to the pods.

        If not specified, all fields in the ``PodUpdatePolicy`` are set to their
        default values.

        :param evict_after_oom_seconds: evictAfterOOMSeconds specifies the time in seconds to wait after an OOM event before considering the pod for eviction. Pods that have OOMed in less than this time since start will be evicted.
        :param eviction_requirements: EvictionRequirements is a list of EvictionRequirements that need to evaluate to true in order for a Pod to be evicted. If more than one EvictionRequirement is specified, all of them need to be fulfilled to allow eviction.
        :param min_replicas: Minimal number of replicas which need to be alive for Updater to attempt pod eviction (pending other checks like PDB). Only positive values are allowed. Overrides global '--min-replicas' flag.
        :param update_mode: Controls when autoscaler applies changes to the pod resources. The default is 'Recreate'.

        :schema: VerticalPodAutoscalerSpecUpdatePolicy
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2090e51372d1722715886f39b00478aa4a1a6c5c8b06379c6ccf82ad97b6e06b)
            check_type(argname="argument evict_after_oom_seconds", value=evict_after_oom_seconds, expected_type=type_hints["evict_after_oom_seconds"])
            check_type(argname="argument eviction_requirements", value=eviction_requirements, expected_type=type_hints["eviction_requirements"])
            check_type(argname="argument min_replicas", value=min_replicas, expected_type=type_hints["min_replicas"])
            check_type(argname="argument update_mode", value=update_mode, expected_type=type_hints["update_mode"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if evict_after_oom_seconds is not None:
            self._values["evict_after_oom_seconds"] = evict_after_oom_seconds
        if eviction_requirements is not None:
            self._values["eviction_requirements"] = eviction_requirements
        if min_replicas is not None:
            self._values["min_replicas"] = min_replicas
        if update_mode is not None:
            self._values["update_mode"] = update_mode

    @builtins.property
    def evict_after_oom_seconds(self) -> typing.Optional[jsii.Number]:
        '''evictAfterOOMSeconds specifies the time in seconds to wait after an OOM event before considering the pod for eviction.

        Pods that have OOMed in less than this time
        since start will be evicted.

        :schema: VerticalPodAutoscalerSpecUpdatePolicy#evictAfterOOMSeconds
        '''
        result = self._values.get("evict_after_oom_seconds")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def eviction_requirements(
        self,
    ) -> typing.Optional[typing.List["VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements"]]:
        '''EvictionRequirements is a list of EvictionRequirements that need to evaluate to true in order for a Pod to be evicted.

        If more than one
        EvictionRequirement is specified, all of them need to be fulfilled to allow eviction.

        :schema: VerticalPodAutoscalerSpecUpdatePolicy#evictionRequirements
        '''
        result = self._values.get("eviction_requirements")
        return typing.cast(typing.Optional[typing.List["VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements"]], result)

    @builtins.property
    def min_replicas(self) -> typing.Optional[jsii.Number]:
        '''Minimal number of replicas which need to be alive for Updater to attempt pod eviction (pending other checks like PDB).

        Only positive values are
        allowed. Overrides global '--min-replicas' flag.

        :schema: VerticalPodAutoscalerSpecUpdatePolicy#minReplicas
        '''
        result = self._values.get("min_replicas")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def update_mode(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerSpecUpdatePolicyUpdateMode"]:
        '''Controls when autoscaler applies changes to the pod resources.

        The default is 'Recreate'.

        :schema: VerticalPodAutoscalerSpecUpdatePolicy#updateMode
        '''
        result = self._values.get("update_mode")
        return typing.cast(typing.Optional["VerticalPodAutoscalerSpecUpdatePolicyUpdateMode"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecUpdatePolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements",
    jsii_struct_bases=[],
    name_mapping={"change_requirement": "changeRequirement", "resources": "resources"},
)
class VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements:
    def __init__(
        self,
        *,
        change_requirement: "VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement",
        resources: typing.Sequence[builtins.str],
    ) -> None:
        '''EvictionRequirement defines a single condition which needs to be true in order to evict a Pod.

        :param change_requirement: EvictionChangeRequirement refers to the relationship between the new target recommendation for a Pod and its current requests, what kind of change is necessary for the Pod to be evicted.
        :param resources: Resources is a list of one or more resources that the condition applies to. If more than one resource is given, the EvictionRequirement is fulfilled if at least one resource meets ``changeRequirement``.

        :schema: VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__310af4049a060a72c926875cbb7db2a8eef4e477f2b93cf2fe28b1cbac746f57)
            check_type(argname="argument change_requirement", value=change_requirement, expected_type=type_hints["change_requirement"])
            check_type(argname="argument resources", value=resources, expected_type=type_hints["resources"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "change_requirement": change_requirement,
            "resources": resources,
        }

    @builtins.property
    def change_requirement(
        self,
    ) -> "VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement":
        '''EvictionChangeRequirement refers to the relationship between the new target recommendation for a Pod and its current requests, what kind of change is necessary for the Pod to be evicted.

        :schema: VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements#changeRequirement
        '''
        result = self._values.get("change_requirement")
        assert result is not None, "Required property 'change_requirement' is missing"
        return typing.cast("VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement", result)

    @builtins.property
    def resources(self) -> typing.List[builtins.str]:
        '''Resources is a list of one or more resources that the condition applies to.

        If more than one resource is given, the EvictionRequirement is fulfilled
        if at least one resource meets ``changeRequirement``.

        :schema: VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements#resources
        '''
        result = self._values.get("resources")
        assert result is not None, "Required property 'resources' is missing"
        return typing.cast(typing.List[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement"
)
class VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement(
    enum.Enum,
):
    '''EvictionChangeRequirement refers to the relationship between the new target recommendation for a Pod and its current requests, what kind of change is necessary for the Pod to be evicted.

    :schema: VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement
    '''

    TARGET_HIGHER_THAN_REQUESTS = "TARGET_HIGHER_THAN_REQUESTS"
    '''TargetHigherThanRequests.'''
    TARGET_LOWER_THAN_REQUESTS = "TARGET_LOWER_THAN_REQUESTS"
    '''TargetLowerThanRequests.'''


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerSpecUpdatePolicyUpdateMode"
)
class VerticalPodAutoscalerSpecUpdatePolicyUpdateMode(enum.Enum):
    '''Controls when autoscaler applies changes to the pod resources.

    The default is 'Recreate'.

    :schema: VerticalPodAutoscalerSpecUpdatePolicyUpdateMode
    '''

    OFF = "OFF"
    '''Off.'''
    INITIAL = "INITIAL"
    '''Initial.'''
    RECREATE = "RECREATE"
    '''Recreate.'''
    IN_PLACE_OR_RECREATE = "IN_PLACE_OR_RECREATE"
    '''InPlaceOrRecreate.'''
    IN_PLACE = "IN_PLACE"
    '''InPlace.'''
    AUTO = "AUTO"
    '''Auto.'''


class VerticalPodAutoscalerV1Beta2(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2",
):
    '''VerticalPodAutoscaler is the configuration for a vertical pod autoscaler, which automatically manages pod resources based on historical and real time resource utilization.

    :schema: VerticalPodAutoscalerV1Beta2
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        spec: typing.Union["VerticalPodAutoscalerV1Beta2Spec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "VerticalPodAutoscalerV1Beta2" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e62d9c88d47e2b7c49e596ee1a15c109172519d6ecebad967bc021a61f70947e)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = VerticalPodAutoscalerV1Beta2Props(spec=spec, metadata=metadata)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        spec: typing.Union["VerticalPodAutoscalerV1Beta2Spec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "VerticalPodAutoscalerV1Beta2".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 
        '''
        props = VerticalPodAutoscalerV1Beta2Props(spec=spec, metadata=metadata)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "VerticalPodAutoscalerV1Beta2".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2Props",
    jsii_struct_bases=[],
    name_mapping={"spec": "spec", "metadata": "metadata"},
)
class VerticalPodAutoscalerV1Beta2Props:
    def __init__(
        self,
        *,
        spec: typing.Union["VerticalPodAutoscalerV1Beta2Spec", typing.Dict[builtins.str, typing.Any]],
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''VerticalPodAutoscaler is the configuration for a vertical pod autoscaler, which automatically manages pod resources based on historical and real time resource utilization.

        :param spec: Specification of the behavior of the autoscaler. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.
        :param metadata: 

        :schema: VerticalPodAutoscalerV1Beta2
        '''
        if isinstance(spec, dict):
            spec = VerticalPodAutoscalerV1Beta2Spec(**spec)
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8e1a91a8e7590b5de4cca8619ac3b00df33c6af7316dd70203be615d6a1c2890)
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "spec": spec,
        }
        if metadata is not None:
            self._values["metadata"] = metadata

    @builtins.property
    def spec(self) -> "VerticalPodAutoscalerV1Beta2Spec":
        '''Specification of the behavior of the autoscaler.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :schema: VerticalPodAutoscalerV1Beta2#spec
        '''
        result = self._values.get("spec")
        assert result is not None, "Required property 'spec' is missing"
        return typing.cast("VerticalPodAutoscalerV1Beta2Spec", result)

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: VerticalPodAutoscalerV1Beta2#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2Props(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2Spec",
    jsii_struct_bases=[],
    name_mapping={
        "target_ref": "targetRef",
        "resource_policy": "resourcePolicy",
        "update_policy": "updatePolicy",
    },
)
class VerticalPodAutoscalerV1Beta2Spec:
    def __init__(
        self,
        *,
        target_ref: typing.Union["VerticalPodAutoscalerV1Beta2SpecTargetRef", typing.Dict[builtins.str, typing.Any]],
        resource_policy: typing.Optional[typing.Union["VerticalPodAutoscalerV1Beta2SpecResourcePolicy", typing.Dict[builtins.str, typing.Any]]] = None,
        update_policy: typing.Optional[typing.Union["VerticalPodAutoscalerV1Beta2SpecUpdatePolicy", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Specification of the behavior of the autoscaler.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status.

        :param target_ref: TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.
        :param resource_policy: Controls how the autoscaler computes recommended resources. The resource policy may be used to set constraints on the recommendations for individual containers. If not specified, the autoscaler computes recommended resources for all containers in the pod, without additional constraints.
        :param update_policy: Describes the rules on how changes are applied to the pods. If not specified, all fields in the ``PodUpdatePolicy`` are set to their default values.

        :schema: VerticalPodAutoscalerV1Beta2Spec
        '''
        if isinstance(target_ref, dict):
            target_ref = VerticalPodAutoscalerV1Beta2SpecTargetRef(**target_ref)
        if isinstance(resource_policy, dict):
            resource_policy = VerticalPodAutoscalerV1Beta2SpecResourcePolicy(**resource_policy)
        if isinstance(update_policy, dict):
            update_policy = VerticalPodAutoscalerV1Beta2SpecUpdatePolicy(**update_policy)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__99534649bf878687433d2d89ab24d48a97de2958ca7513f0e54f0b47ea5ccebb)
            check_type(argname="argument target_ref", value=target_ref, expected_type=type_hints["target_ref"])
            check_type(argname="argument resource_policy", value=resource_policy, expected_type=type_hints["resource_policy"])
            check_type(argname="argument update_policy", value=update_policy, expected_type=type_hints["update_policy"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "target_ref": target_ref,
        }
        if resource_policy is not None:
            self._values["resource_policy"] = resource_policy
        if update_policy is not None:
            self._values["update_policy"] = update_policy

    @builtins.property
    def target_ref(self) -> "VerticalPodAutoscalerV1Beta2SpecTargetRef":
        '''TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.

        :schema: VerticalPodAutoscalerV1Beta2Spec#targetRef
        '''
        result = self._values.get("target_ref")
        assert result is not None, "Required property 'target_ref' is missing"
        return typing.cast("VerticalPodAutoscalerV1Beta2SpecTargetRef", result)

    @builtins.property
    def resource_policy(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerV1Beta2SpecResourcePolicy"]:
        '''Controls how the autoscaler computes recommended resources.

        The resource policy may be used to set constraints on the recommendations
        for individual containers. If not specified, the autoscaler computes recommended
        resources for all containers in the pod, without additional constraints.

        :schema: VerticalPodAutoscalerV1Beta2Spec#resourcePolicy
        '''
        result = self._values.get("resource_policy")
        return typing.cast(typing.Optional["VerticalPodAutoscalerV1Beta2SpecResourcePolicy"], result)

    @builtins.property
    def update_policy(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerV1Beta2SpecUpdatePolicy"]:
        '''Describes the rules on how changes are applied to the pods.

        If not specified, all fields in the ``PodUpdatePolicy`` are set to their
        default values.

        :schema: VerticalPodAutoscalerV1Beta2Spec#updatePolicy
        '''
        result = self._values.get("update_policy")
        return typing.cast(typing.Optional["VerticalPodAutoscalerV1Beta2SpecUpdatePolicy"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2Spec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecResourcePolicy",
    jsii_struct_bases=[],
    name_mapping={"container_policies": "containerPolicies"},
)
class VerticalPodAutoscalerV1Beta2SpecResourcePolicy:
    def __init__(
        self,
        *,
        container_policies: typing.Optional[typing.Sequence[typing.Union["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Controls how the autoscaler computes recommended resources.

        The resource policy may be used to set constraints on the recommendations
        for individual containers. If not specified, the autoscaler computes recommended
        resources for all containers in the pod, without additional constraints.

        :param container_policies: Per-container resource policies.

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicy
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__340f8a3834dddb8945e030d1e547c99b6ec0f68f67ce5961a5a878d5be0be59c)
            check_type(argname="argument container_policies", value=container_policies, expected_type=type_hints["container_policies"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_policies is not None:
            self._values["container_policies"] = container_policies

    @builtins.property
    def container_policies(
        self,
    ) -> typing.Optional[typing.List["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies"]]:
        '''Per-container resource policies.

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicy#containerPolicies
        '''
        result = self._values.get("container_policies")
        return typing.cast(typing.Optional[typing.List["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2SpecResourcePolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies",
    jsii_struct_bases=[],
    name_mapping={
        "container_name": "containerName",
        "max_allowed": "maxAllowed",
        "min_allowed": "minAllowed",
        "mode": "mode",
    },
)
class VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies:
    def __init__(
        self,
        *,
        container_name: typing.Optional[builtins.str] = None,
        max_allowed: typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed"]] = None,
        min_allowed: typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed"]] = None,
        mode: typing.Optional["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode"] = None,
    ) -> None:
        '''ContainerResourcePolicy controls how autoscaler computes the recommended resources for a specific container.

        :param container_name: Name of the container or DefaultContainerResourcePolicy, in which case the policy is used by the containers that don't have their own policy specified.
        :param max_allowed: Specifies the maximum amount of resources that will be recommended for the container. The default is no maximum.
        :param min_allowed: Specifies the minimal amount of resources that will be recommended for the container. The default is no minimum.
        :param mode: Whether autoscaler is enabled for the container. The default is "Auto".

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__37a19ec4542ee9b3c482c463626b5c1bd42c8e2e33344c398be7f0169a170722)
            check_type(argname="argument container_name", value=container_name, expected_type=type_hints["container_name"])
            check_type(argname="argument max_allowed", value=max_allowed, expected_type=type_hints["max_allowed"])
            check_type(argname="argument min_allowed", value=min_allowed, expected_type=type_hints["min_allowed"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if container_name is not None:
            self._values["container_name"] = container_name
        if max_allowed is not None:
            self._values["max_allowed"] = max_allowed
        if min_allowed is not None:
            self._values["min_allowed"] = min_allowed
        if mode is not None:
            self._values["mode"] = mode

    @builtins.property
    def container_name(self) -> typing.Optional[builtins.str]:
        '''Name of the container or DefaultContainerResourcePolicy, in which case the policy is used by the containers that don't have their own policy specified.

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies#containerName
        '''
        result = self._values.get("container_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_allowed(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed"]]:
        '''Specifies the maximum amount of resources that will be recommended for the container.

        The default is no maximum.

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies#maxAllowed
        '''
        result = self._values.get("max_allowed")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed"]], result)

    @builtins.property
    def min_allowed(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed"]]:
        '''Specifies the minimal amount of resources that will be recommended for the container.

        The default is no minimum.

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies#minAllowed
        '''
        result = self._values.get("min_allowed")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed"]], result)

    @builtins.property
    def mode(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode"]:
        '''Whether autoscaler is enabled for the container.

        The default is "Auto".

        :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed",
):
    '''
    :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__34d6b77a70ee0211e503a20956b0ba579708b52b04480f66cab005ee63fac135)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ae3cf7bbfce7e31dd0f70760de9c879ff4cdea48512f1a94084eb81afaaa70ac)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


class VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed(
    metaclass=jsii.JSIIMeta,
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed",
):
    '''
    :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed
    '''

    @jsii.member(jsii_name="fromNumber")
    @builtins.classmethod
    def from_number(
        cls,
        value: jsii.Number,
    ) -> "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8e54aa4f5ee4a3a1d8bf5fc549d79bda640fd52623091c88e457a8541d962f48)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed", jsii.sinvoke(cls, "fromNumber", [value]))

    @jsii.member(jsii_name="fromString")
    @builtins.classmethod
    def from_string(
        cls,
        value: builtins.str,
    ) -> "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed":
        '''
        :param value: -
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4edbe499599341ff3077182dad7ca8e4442befbe9c670d59195effa558372419)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        return typing.cast("VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed", jsii.sinvoke(cls, "fromString", [value]))

    @builtins.property
    @jsii.member(jsii_name="value")
    def value(self) -> typing.Union[builtins.str, jsii.Number]:
        return typing.cast(typing.Union[builtins.str, jsii.Number], jsii.get(self, "value"))


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode"
)
class VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode(enum.Enum):
    '''Whether autoscaler is enabled for the container.

    The default is "Auto".

    :schema: VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode
    '''

    AUTO = "AUTO"
    '''Auto.'''
    OFF = "OFF"
    '''Off.'''


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecTargetRef",
    jsii_struct_bases=[],
    name_mapping={"kind": "kind", "name": "name", "api_version": "apiVersion"},
)
class VerticalPodAutoscalerV1Beta2SpecTargetRef:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        api_version: typing.Optional[builtins.str] = None,
    ) -> None:
        '''TargetRef points to the controller managing the set of pods for the autoscaler to control - e.g. Deployment, StatefulSet. VerticalPodAutoscaler can be targeted at controller implementing scale subresource (the pod set is retrieved from the controller's ScaleStatus) or some well known controllers (e.g. for DaemonSet the pod set is read from the controller's spec). If VerticalPodAutoscaler cannot use specified target it will report ConfigUnsupported condition. Note that VerticalPodAutoscaler does not require full implementation of scale subresource - it will not use it to modify the replica count. The only thing retrieved is a label selector matching pods grouped by the target resource.

        :param kind: kind is the kind of the referent; More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds
        :param name: name is the name of the referent; More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names
        :param api_version: apiVersion is the API version of the referent.

        :schema: VerticalPodAutoscalerV1Beta2SpecTargetRef
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f17c3920203c108e147cc631476784035b9441bcc15ab7cf47800cad0cbfac10)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument api_version", value=api_version, expected_type=type_hints["api_version"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if api_version is not None:
            self._values["api_version"] = api_version

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is the kind of the referent;

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds

        :schema: VerticalPodAutoscalerV1Beta2SpecTargetRef#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the referent;

        More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names

        :schema: VerticalPodAutoscalerV1Beta2SpecTargetRef#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def api_version(self) -> typing.Optional[builtins.str]:
        '''apiVersion is the API version of the referent.

        :schema: VerticalPodAutoscalerV1Beta2SpecTargetRef#apiVersion
        '''
        result = self._values.get("api_version")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2SpecTargetRef(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecUpdatePolicy",
    jsii_struct_bases=[],
    name_mapping={"update_mode": "updateMode"},
)
class VerticalPodAutoscalerV1Beta2SpecUpdatePolicy:
    def __init__(
        self,
        *,
        update_mode: typing.Optional["VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode"] = None,
    ) -> None:
        '''Describes the rules on how changes are applied to the pods.

        If not specified, all fields in the ``PodUpdatePolicy`` are set to their
        default values.

        :param update_mode: Controls when autoscaler applies changes to the pod resources. The default is 'Auto'.

        :schema: VerticalPodAutoscalerV1Beta2SpecUpdatePolicy
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6745106fd41202b69ac4f89545bd10e7a4e347bcf067bd1dc7b2b535eb8dd61d)
            check_type(argname="argument update_mode", value=update_mode, expected_type=type_hints["update_mode"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if update_mode is not None:
            self._values["update_mode"] = update_mode

    @builtins.property
    def update_mode(
        self,
    ) -> typing.Optional["VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode"]:
        '''Controls when autoscaler applies changes to the pod resources.

        The default is 'Auto'.

        :schema: VerticalPodAutoscalerV1Beta2SpecUpdatePolicy#updateMode
        '''
        result = self._values.get("update_mode")
        return typing.cast(typing.Optional["VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VerticalPodAutoscalerV1Beta2SpecUpdatePolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="iok8sautoscaling.VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode"
)
class VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode(enum.Enum):
    '''Controls when autoscaler applies changes to the pod resources.

    The default is 'Auto'.

    :schema: VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode
    '''

    OFF = "OFF"
    '''Off.'''
    INITIAL = "INITIAL"
    '''Initial.'''
    RECREATE = "RECREATE"
    '''Recreate.'''
    AUTO = "AUTO"
    '''Auto.'''


__all__ = [
    "VerticalPodAutoscaler",
    "VerticalPodAutoscalerCheckpoint",
    "VerticalPodAutoscalerCheckpointProps",
    "VerticalPodAutoscalerCheckpointSpec",
    "VerticalPodAutoscalerCheckpointV1Beta2",
    "VerticalPodAutoscalerCheckpointV1Beta2Props",
    "VerticalPodAutoscalerCheckpointV1Beta2Spec",
    "VerticalPodAutoscalerProps",
    "VerticalPodAutoscalerSpec",
    "VerticalPodAutoscalerSpecRecommenders",
    "VerticalPodAutoscalerSpecResourcePolicy",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPolicies",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile",
    "VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile",
    "VerticalPodAutoscalerSpecStartupBoost",
    "VerticalPodAutoscalerSpecStartupBoostCpu",
    "VerticalPodAutoscalerSpecStartupBoostCpuQuantity",
    "VerticalPodAutoscalerSpecStartupBoostCpuType",
    "VerticalPodAutoscalerSpecTargetRef",
    "VerticalPodAutoscalerSpecUpdatePolicy",
    "VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements",
    "VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement",
    "VerticalPodAutoscalerSpecUpdatePolicyUpdateMode",
    "VerticalPodAutoscalerV1Beta2",
    "VerticalPodAutoscalerV1Beta2Props",
    "VerticalPodAutoscalerV1Beta2Spec",
    "VerticalPodAutoscalerV1Beta2SpecResourcePolicy",
    "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies",
    "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed",
    "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed",
    "VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode",
    "VerticalPodAutoscalerV1Beta2SpecTargetRef",
    "VerticalPodAutoscalerV1Beta2SpecUpdatePolicy",
    "VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode",
]

publication.publish()

def _typecheckingstub__caf59d86d285ee6685b1508c4068ea959df4364adaf893cf0bdee63cda7bf602(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    spec: typing.Union[VerticalPodAutoscalerSpec, typing.Dict[builtins.str, typing.Any]],
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__417daf29a0414735a3caff5a1262960997e0629f4d3672d94cc5030c1035a633(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VerticalPodAutoscalerCheckpointSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6c09821f0bd7acf378fc14e7d8baaad633b256459ef04fbf16edbaba8dbc367c(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VerticalPodAutoscalerCheckpointSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4926d22a30287a53595e4c60d286da97757a94e8c82011a5a7eac45f0d5471eb(
    *,
    container_name: typing.Optional[builtins.str] = None,
    vpa_object_name: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e965f8c6b458dc1cd77321285fce0a2d2bc53ac846b7debafdd4e084ab9d0966(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VerticalPodAutoscalerCheckpointV1Beta2Spec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a3056128a13898c38734cd5a9c41636e80201bd29082acb7843438509646ab48(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VerticalPodAutoscalerCheckpointV1Beta2Spec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8b3f23f9542562f2c369c0a5d837e33dbbb7622ce2bcd688da1c58b93ed20a62(
    *,
    container_name: typing.Optional[builtins.str] = None,
    vpa_object_name: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9fdd7c3f96f7a745f9e5cfc2908bb1ce7c61c78028c1c29dbd8a9b6d659de3cd(
    *,
    spec: typing.Union[VerticalPodAutoscalerSpec, typing.Dict[builtins.str, typing.Any]],
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__aad6783c71127d8ab5dcca718acfc5e5ac0c4b9eac186e46f316e34aad7bf2c1(
    *,
    target_ref: typing.Union[VerticalPodAutoscalerSpecTargetRef, typing.Dict[builtins.str, typing.Any]],
    recommenders: typing.Optional[typing.Sequence[typing.Union[VerticalPodAutoscalerSpecRecommenders, typing.Dict[builtins.str, typing.Any]]]] = None,
    resource_policy: typing.Optional[typing.Union[VerticalPodAutoscalerSpecResourcePolicy, typing.Dict[builtins.str, typing.Any]]] = None,
    startup_boost: typing.Optional[typing.Union[VerticalPodAutoscalerSpecStartupBoost, typing.Dict[builtins.str, typing.Any]]] = None,
    update_policy: typing.Optional[typing.Union[VerticalPodAutoscalerSpecUpdatePolicy, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__3e5198b23f37399ac14dd9bde4cc16da589345871e41914d8ae0fa2e1196edd7(
    *,
    name: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d666228e8864efcd5ac2ea04f382409466aa693b59fd9f519c6436b7051bd6f5(
    *,
    container_policies: typing.Optional[typing.Sequence[typing.Union[VerticalPodAutoscalerSpecResourcePolicyContainerPolicies, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__20e39dd603c99d3d3deb05326547159fd6fe9e3b7008f5a98634351e64953eb1(
    *,
    container_name: typing.Optional[builtins.str] = None,
    controlled_resources: typing.Optional[typing.Sequence[builtins.str]] = None,
    controlled_values: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues] = None,
    max_allowed: typing.Optional[typing.Mapping[builtins.str, VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed]] = None,
    memory_aggregation_interval_count: typing.Optional[jsii.Number] = None,
    memory_aggregation_interval_seconds: typing.Optional[jsii.Number] = None,
    min_allowed: typing.Optional[typing.Mapping[builtins.str, VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed]] = None,
    mode: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMode] = None,
    oom_bump_up_ratio: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomBumpUpRatio] = None,
    oom_min_bump_up: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesOomMinBumpUp] = None,
    startup_boost: typing.Optional[typing.Union[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoost, typing.Dict[builtins.str, typing.Any]]] = None,
    target_cpu_percentile: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetCpuPercentile] = None,
    target_memory_percentile: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesTargetMemoryPercentile] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5a3489df3481bf643eba8891e566a27cb7a905ce3bc7a75836f55e77cea812ce(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1149315f4d028ce0f7fb1a6f25223eae226e5cacb95c987bb93237bde6b3f708(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__0d73f677b6a482dbb3b55973d80ae592e9d8c000e9b9e097a4bba666ae8624ef(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__48e1ef241fc712d94bafc6720c9dbdf04454d7347d241bf8e7b39f821f87b9c6(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__693448f123b9a90a95759ecf2b1e7e25d31c25a7d20ad327bca95e4d139dc9e6(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2784a094ae765b69740bd754165c654fb9ec42b095015896d7dffc39da92dd59(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__141812394b9ad99956e4b10ae49e31482ae4a2e1e3e6539c5c49684f94816a93(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d653b2712752a2fa0a083e6f29cddf8eed6d3e7d040a856b68597fc040631c92(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__53f99f37924dc3ba777e957b8ffdcc8f7437c213b4fd0f7901a816e3b6a93394(
    *,
    cpu: typing.Optional[typing.Union[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpu, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ae81f4b3d36649484ebf51ebad8fd231af2c28b5717b3718db9583cece24ce0a(
    *,
    type: VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuType,
    duration_seconds: typing.Optional[jsii.Number] = None,
    factor: typing.Optional[jsii.Number] = None,
    quantity: typing.Optional[VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesStartupBoostCpuQuantity] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__13af68625e2d6185aacb4b10a18fcc118c4dd971de14210c7608a316df1cbc76(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6a3b31f4ed6940842ed03fbfbe6fbd1a1c9fb4f83d2034a9ff6d11693a936889(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8cc98db82c7a3831696a4c933a0328a021eb51a8436fec85a49990938f2f6e56(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7388f461f17db581c8afa75ada82f71b5d2ae4fac5e7a8751618314feea85cc3(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__eb2e2cdf506ef8f8b8bb3ba465c936fe27a3afde40faa1b4483463266353b2bd(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__10add11bbcffff8f8a2b80d6684bc8af0efc25d94a89f42a5af71e73b5b5b47f(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1b1e041b86540efe4cd67c092554b5ff23d87028803213c530c078cea1c4380e(
    *,
    cpu: typing.Optional[typing.Union[VerticalPodAutoscalerSpecStartupBoostCpu, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__14a74c3e686b79d0345281e20a2f0b5be491a5f2c66cfcf9861f26f784a23964(
    *,
    type: VerticalPodAutoscalerSpecStartupBoostCpuType,
    duration_seconds: typing.Optional[jsii.Number] = None,
    factor: typing.Optional[jsii.Number] = None,
    quantity: typing.Optional[VerticalPodAutoscalerSpecStartupBoostCpuQuantity] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b8354f36311df3be37c7681f547e78540525f410a3a81a44b62e1fc181d29ab1(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5d099a32aa7a375854d28ddbac10023165bce6c378e1619473da25032bf6780b(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9f7e1cdc947c495ae1aa36536adc3a83321ba4c464768bf26354e40e3055ae51(
    *,
    kind: builtins.str,
    name: builtins.str,
    api_version: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2090e51372d1722715886f39b00478aa4a1a6c5c8b06379c6ccf82ad97b6e06b(
    *,
    evict_after_oom_seconds: typing.Optional[jsii.Number] = None,
    eviction_requirements: typing.Optional[typing.Sequence[typing.Union[VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirements, typing.Dict[builtins.str, typing.Any]]]] = None,
    min_replicas: typing.Optional[jsii.Number] = None,
    update_mode: typing.Optional[VerticalPodAutoscalerSpecUpdatePolicyUpdateMode] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__310af4049a060a72c926875cbb7db2a8eef4e477f2b93cf2fe28b1cbac746f57(
    *,
    change_requirement: VerticalPodAutoscalerSpecUpdatePolicyEvictionRequirementsChangeRequirement,
    resources: typing.Sequence[builtins.str],
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e62d9c88d47e2b7c49e596ee1a15c109172519d6ecebad967bc021a61f70947e(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    spec: typing.Union[VerticalPodAutoscalerV1Beta2Spec, typing.Dict[builtins.str, typing.Any]],
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8e1a91a8e7590b5de4cca8619ac3b00df33c6af7316dd70203be615d6a1c2890(
    *,
    spec: typing.Union[VerticalPodAutoscalerV1Beta2Spec, typing.Dict[builtins.str, typing.Any]],
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__99534649bf878687433d2d89ab24d48a97de2958ca7513f0e54f0b47ea5ccebb(
    *,
    target_ref: typing.Union[VerticalPodAutoscalerV1Beta2SpecTargetRef, typing.Dict[builtins.str, typing.Any]],
    resource_policy: typing.Optional[typing.Union[VerticalPodAutoscalerV1Beta2SpecResourcePolicy, typing.Dict[builtins.str, typing.Any]]] = None,
    update_policy: typing.Optional[typing.Union[VerticalPodAutoscalerV1Beta2SpecUpdatePolicy, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__340f8a3834dddb8945e030d1e547c99b6ec0f68f67ce5961a5a878d5be0be59c(
    *,
    container_policies: typing.Optional[typing.Sequence[typing.Union[VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPolicies, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__37a19ec4542ee9b3c482c463626b5c1bd42c8e2e33344c398be7f0169a170722(
    *,
    container_name: typing.Optional[builtins.str] = None,
    max_allowed: typing.Optional[typing.Mapping[builtins.str, VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMaxAllowed]] = None,
    min_allowed: typing.Optional[typing.Mapping[builtins.str, VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMinAllowed]] = None,
    mode: typing.Optional[VerticalPodAutoscalerV1Beta2SpecResourcePolicyContainerPoliciesMode] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__34d6b77a70ee0211e503a20956b0ba579708b52b04480f66cab005ee63fac135(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ae3cf7bbfce7e31dd0f70760de9c879ff4cdea48512f1a94084eb81afaaa70ac(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8e54aa4f5ee4a3a1d8bf5fc549d79bda640fd52623091c88e457a8541d962f48(
    value: jsii.Number,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4edbe499599341ff3077182dad7ca8e4442befbe9c670d59195effa558372419(
    value: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f17c3920203c108e147cc631476784035b9441bcc15ab7cf47800cad0cbfac10(
    *,
    kind: builtins.str,
    name: builtins.str,
    api_version: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6745106fd41202b69ac4f89545bd10e7a4e347bcf067bd1dc7b2b535eb8dd61d(
    *,
    update_mode: typing.Optional[VerticalPodAutoscalerV1Beta2SpecUpdatePolicyUpdateMode] = None,
) -> None:
    """Type checking stubs"""
    pass
