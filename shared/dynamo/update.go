package dynamo

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// An Update describes a guarded update of one item in plain values, so
// that it can pass through a package that holds no DynamoDB types and be
// written by another (a bulk import's cursor that moves in the directory's
// member transaction): it sets Set, adds Add to numbers, if every
// attribute of If still holds its value.
type Update struct {
	Table string
	Key   map[string]string // the item's key; every key attribute is a string
	Set   map[string]any
	Add   map[string]int64
	If    map[string]any
}

// Item returns u as a transaction item.
func (u Update) Item() (types.TransactWriteItem, error) {
	key := make(map[string]types.AttributeValue, len(u.Key))
	for name, v := range u.Key {
		key[name] = &types.AttributeValueMemberS{Value: v}
	}
	x := expr{names: map[string]string{}, byAttr: map[string]string{}, values: map[string]types.AttributeValue{}}
	var set, add, cond []string
	for _, name := range sortedKeys(u.Set) {
		set = append(set, x.name(name)+" = "+x.value(u.Set[name]))
	}
	for _, name := range sortedKeys(u.Add) {
		add = append(add, x.name(name)+" "+x.value(u.Add[name]))
	}
	for _, name := range sortedKeys(u.If) {
		cond = append(cond, x.name(name)+" = "+x.value(u.If[name]))
	}
	if x.err != nil {
		return types.TransactWriteItem{}, x.err
	}
	var clauses []string
	if len(set) > 0 {
		clauses = append(clauses, "SET "+strings.Join(set, ", "))
	}
	if len(add) > 0 {
		clauses = append(clauses, "ADD "+strings.Join(add, ", "))
	}
	out := &types.Update{
		TableName: aws.String(u.Table), Key: key,
		UpdateExpression:         aws.String(strings.Join(clauses, " ")),
		ExpressionAttributeNames: x.names, ExpressionAttributeValues: x.values,
	}
	if len(cond) > 0 {
		out.ConditionExpression = aws.String(strings.Join(cond, " AND "))
	}
	return types.TransactWriteItem{Update: out}, nil
}

// Input returns u as a request of its own.
func (u Update) Input() (*dynamodb.UpdateItemInput, error) {
	it, err := u.Item()
	if err != nil {
		return nil, err
	}
	x := it.Update
	return &dynamodb.UpdateItemInput{
		TableName: x.TableName, Key: x.Key, UpdateExpression: x.UpdateExpression,
		ConditionExpression: x.ConditionExpression, ExpressionAttributeNames: x.ExpressionAttributeNames,
		ExpressionAttributeValues: x.ExpressionAttributeValues,
	}, nil
}

// expr hands out placeholders: a name for every attribute, since many
// plain words (state, count …) are DynamoDB reserved words.
type expr struct {
	names  map[string]string // placeholder → attribute
	byAttr map[string]string // attribute → placeholder
	values map[string]types.AttributeValue
	err    error
}

func (x *expr) name(attr string) string {
	if p, ok := x.byAttr[attr]; ok {
		return p
	}
	p := "#a" + strconv.Itoa(len(x.names))
	x.names[p], x.byAttr[attr] = attr, p
	return p
}

// value marshals v; a value that does not encode (Marshal leaves some
// kinds, such as funcs, out without an error) is x's error.
func (x *expr) value(v any) string {
	p := ":v" + strconv.Itoa(len(x.values))
	av, err := attributevalue.Marshal(v)
	if err == nil && av == nil {
		err = fmt.Errorf("dynamo: a %T does not encode as an attribute value", v)
	}
	if err != nil && x.err == nil {
		x.err = err
	}
	x.values[p] = av
	return p
}
