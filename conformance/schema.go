package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	crdsv2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/client/crds/v2"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// CRDSchema is the v2 schema of one Cilium CRD, prepared the way the
// kube-apiserver prepares it for custom resources: a structural schema for
// pruning, defaulting and CEL, and an OpenAPI validator.
type CRDSchema struct {
	Kind       string
	Namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// CRD files in Cilium's embedded CRD set, by kind.
var crdFiles = map[string]string{
	"CiliumNetworkPolicy":            "ciliumnetworkpolicies.yaml",
	"CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicies.yaml",
}

// LoadCRDSchema reads a CRD from Cilium's EmbedFS and builds its schema.
func LoadCRDSchema(kind string) (*CRDSchema, error) {
	file, ok := crdFiles[kind]
	if !ok {
		return nil, fmt.Errorf("no CRD for kind %q", kind)
	}
	raw, err := crdsv2.EmbedFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var v1crd apiextv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &v1crd); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", file, err)
	}
	var crd apiextensions.CustomResourceDefinition
	if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
		return nil, fmt.Errorf("converting %s: %w", file, err)
	}
	var props *apiextensions.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == "v2" && v.Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
	}
	if props == nil && crd.Spec.Validation != nil {
		props = crd.Spec.Validation.OpenAPIV3Schema
	}
	if props == nil {
		return nil, fmt.Errorf("%s: no v2 schema", file)
	}
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		return nil, fmt.Errorf("%s: structural schema: %w", file, err)
	}
	if errs := structuralschema.ValidateStructural(nil, s); len(errs) > 0 {
		return nil, fmt.Errorf("%s: schema is not structural: %w", file, errs.ToAggregate())
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		return nil, fmt.Errorf("%s: openapi validator: %w", file, err)
	}
	return &CRDSchema{
		Kind:       kind,
		Namespaced: crd.Spec.Scope == apiextensions.NamespaceScoped,
		structural: s,
		validator:  validator,
		cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
	}, nil
}

// SchemaResult is what the API server would say about one object.
type SchemaResult struct {
	// Unknown are field paths pruning would drop; kubectl's default strict
	// field validation turns them into errors.
	Unknown []string
	Errors  field.ErrorList
}

// OK reports whether the object would be stored as written.
func (r SchemaResult) OK() bool { return len(r.Unknown) == 0 && len(r.Errors) == 0 }

func (r SchemaResult) String() string {
	var parts []string
	for _, u := range r.Unknown {
		parts = append(parts, "unknown field "+u)
	}
	for _, e := range r.Errors {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// Check runs an object through the custom-resource create path of the API
// server: prune (recording unknown fields), default, OpenAPI validation,
// embedded-object metadata, list-type invariants, then the CRD's CEL rules.
// obj is modified (pruned and defaulted).
func (c *CRDSchema) Check(obj map[string]any) SchemaResult {
	var res SchemaResult
	// As the API server decodes a custom resource: metadata first (its own
	// unknown fields), then pruning, dropping nulls the schema does not
	// allow, and coercing embedded objects' metadata.
	meta, foundMeta, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		res.Errors = append(res.Errors, field.Invalid(field.NewPath("metadata"), obj["metadata"], err.Error()))
		return res
	}
	res.Unknown = append(res.Unknown, metaUnknown...)
	res.Unknown = append(res.Unknown, pruning.PruneWithOptions(obj, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, c.structural)
	ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, obj, c.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		res.Errors = append(res.Errors, ferr)
		return res
	}
	res.Unknown = append(res.Unknown, paths...)
	if foundMeta {
		if err := schemaobjectmeta.SetObjectMeta(obj, meta); err != nil {
			res.Errors = append(res.Errors, field.Invalid(field.NewPath("metadata"), obj["metadata"], err.Error()))
			return res
		}
	}
	structuraldefaulting.Default(obj, c.structural)
	res.Errors = append(res.Errors, apiservervalidation.ValidateCustomResource(nil, obj, c.validator)...)
	res.Errors = append(res.Errors, c.validateMeta(obj)...)
	res.Errors = append(res.Errors, schemaobjectmeta.Validate(nil, obj, c.structural, false)...)
	res.Errors = append(res.Errors, listtype.ValidateListSetsAndMaps(nil, c.structural, obj)...)
	if len(res.Errors) == 0 {
		errs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		res.Errors = append(res.Errors, errs...)
	}
	return res
}

// validateMeta checks the object-level fields the generic registry checks
// before the schema: kind, apiVersion, a name.
func (c *CRDSchema) validateMeta(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	if obj["apiVersion"] != "cilium.io/v2" {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), obj["apiVersion"], "must be cilium.io/v2"))
	}
	if obj["kind"] != c.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), obj["kind"], "must be "+c.Kind))
	}
	md, _ := obj["metadata"].(map[string]any)
	if name, _ := md["name"].(string); name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name is required"))
	}
	if ns, _ := md["namespace"].(string); ns != "" && !c.Namespaced {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), ns, "cluster-scoped object has a namespace"))
	}
	return errs
}

// Schemas holds the CNP and CCNP schemas.
type Schemas map[string]*CRDSchema

// LoadSchemas loads the policy CRDs.
func LoadSchemas() (Schemas, error) {
	out := Schemas{}
	for kind := range crdFiles {
		s, err := LoadCRDSchema(kind)
		if err != nil {
			return nil, err
		}
		out[kind] = s
	}
	return out, nil
}

// CheckDocument validates one decoded document against the schema of its
// kind.
func (s Schemas) CheckDocument(obj map[string]any) (SchemaResult, error) {
	kind, _ := obj["kind"].(string)
	c := s[kind]
	if c == nil {
		return SchemaResult{}, fmt.Errorf("kind %q is not a Cilium policy", kind)
	}
	return c.Check(obj), nil
}

// DecodeDocuments splits YAML or JSON (multi-document, or a List) into
// objects with JSON number types, as the API server decodes them.
func DecodeDocuments(data []byte) ([]map[string]any, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []map[string]any
	for {
		var raw map[string]any
		err := d.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if raw == nil {
			continue
		}
		// Round-trip through JSON so numbers are int64/float64.
		b, err := utiljson.Marshal(raw)
		if err != nil {
			return out, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(b, &obj); err != nil {
			return out, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if items, ok := obj["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(obj["kind"]), "List") {
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, m)
				}
			}
			continue
		}
		out = append(out, obj)
	}
}
