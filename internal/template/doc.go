// Package template evaluates deployment templates, the cloud's JSON
// infrastructure-as-code format (what Bicep compiles to and what
// `az vm create` builds), for one deployment at resource-group scope.
//
// Parse reads a template, in JSON or in the relaxed JSON (comments,
// unquoted property names, trailing commas) the cloud's CLI sends. Plan
// evaluates it for a Scope and parameter values:
//
//   - parameters: given values or defaultValue (itself possibly an
//     expression), checked against type (string, securestring, int, bool,
//     object, secureObject, array), allowedValues, minValue, maxValue,
//     minLength and maxLength; a value for an undeclared parameter is
//     refused;
//   - variables, including variable copy loops; a variable may not call
//     reference();
//   - resources, nested child resources included: condition, copy loops
//     (copyIndex), name, type and apiVersion, each resource's id (a child's
//     under its parent; an extension resource such as a role assignment
//     under its scope, given as "scope" or in the older
//     "<type>/providers/<extension type>" form), and dependsOn (by name,
//     id or copy loop name), ordered so that each resource comes after what
//     it depends on and otherwise in template order. Depending on a
//     resource whose condition is false is depending on nothing. A
//     dependency cycle, an unknown dependsOn, or one id defined twice is
//     refused.
//
// Plan.Body then evaluates what one resource states (location, tags, sku,
// identity, properties..., property copy loops expanded) when the caller
// is about to deploy it, and Plan.Outputs the outputs once all are
// deployed: there reference() reads deployed resources through the
// caller's Reference. Which resource types exist, and deploying them, are
// the caller's business.
//
// Expressions are strings in brackets ("[concat('a', parameters('p'))]");
// "[[" escapes a literal bracket. They are function calls, 'strings' (two
// quotes stand for one), integers, and .property and [index] access (properties
// ignore case). The functions are listed by Functions: parameters,
// variables, resourceId, subscriptionResourceId, extensionResourceId,
// resourceGroup, subscription, tenant, deployment, reference, copyIndex,
// if (which evaluates only the branch it chooses), concat, format ({n}
// only), guid, uniqueString, and the small ones (toLower, toUpper, trim,
// equals, not, and, or, true, false, null, length, empty, string, int,
// bool, createObject, createArray, array, json, contains, replace,
// startsWith, endsWith, indexOf, split, join, substring, first, last,
// coalesce, union, add, sub, mul, div, mod, less, lessOrEquals, greater,
// greaterOrEquals). guid and uniqueString compute the cloud's values.
// Any other function, a user-defined function, and languageVersion 2.0
// templates are refused.
//
// What one evaluation may build is bounded (copy loops of at most 800,
// values of at most 16 MiB in all, each shared value counted at each use),
// so that no template, however small, can exhaust the server.
//
// Every refusal is an *Error with the cloud's code InvalidTemplate and a
// message starting "Deployment template validation failed:", naming the
// parameter, variable, resource or output at fault. An error the
// Reference gives passes through unchanged.
package template
