import { expect } from 'chai';
import { parseXml } from '../testing/parse-xml.js';
import { buildForm, DataFormError, findForm, formTypeField, getBoolean, getFormType, getValue, getValues, parseForm, type DataForm } from './data-form.js';
import { x } from './xml.js';

describe('data forms (XEP-0004)', function () {
  it('parses a submitted form with single, multi and boolean fields', function () {
    const form = parseForm(
      parseXml(`<x xmlns='jabber:x:data' type='submit'>
        <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/admin</value></field>
        <field var='accountjids'><value>a@localhost</value><value>b@localhost</value></field>
        <field var='public'><value>true</value></field>
        <field var='empty'/>
      </x>`),
    );
    expect(form.type).to.equal('submit');
    expect(getFormType(form)).to.equal('http://jabber.org/protocol/admin');
    expect(getValues(form, 'accountjids')).to.deep.equal(['a@localhost', 'b@localhost']);
    expect(getValue(form, 'accountjids')).to.equal('a@localhost');
    expect(getBoolean(form, 'public')).to.equal(true);
    expect(getValue(form, 'empty')).to.equal(undefined);
    expect(getValues(form, 'missing')).to.deep.equal([]);
    expect(getBoolean(form, 'missing')).to.equal(undefined);
  });

  it('reads booleans as XEP-0004 §3.3 spells them and rejects anything else', function () {
    const form: DataForm = { type: 'submit', fields: [{ var: 'a', values: ['0'] }, { var: 'b', values: ['false'] }, { var: 'c', values: ['1'] }, { var: 'd', values: ['yes'] }] };
    expect(getBoolean(form, 'a')).to.equal(false);
    expect(getBoolean(form, 'b')).to.equal(false);
    expect(getBoolean(form, 'c')).to.equal(true);
    expect(() => getBoolean(form, 'd')).to.throw(DataFormError);
  });

  it('rejects elements that are not forms, bad form types and unknown field types', function () {
    expect(() => parseForm(x('x', { xmlns: 'jabber:x:oob' }))).to.throw(DataFormError);
    expect(() => parseForm(x('x', { xmlns: 'jabber:x:data', type: 'nonsense' }))).to.throw(DataFormError);
    expect(() => parseForm(x('x', { xmlns: 'jabber:x:data', type: 'form' }, x('field', { var: 'a', type: 'text-huge' })))).to.throw(DataFormError);
  });

  it('builds a form that parses back to the same value', function () {
    const form: DataForm = {
      type: 'form',
      title: 'Adding a User',
      instructions: ['Fill out this form to add a user.'],
      fields: [
        formTypeField('http://jabber.org/protocol/admin'),
        { var: 'accountjid', type: 'jid-single', label: 'The Jabber ID for the account to be added', required: true, values: [] },
        { var: 'password', type: 'text-private', label: 'The password for this account', desc: 'secret', values: [] },
        { var: 'max', type: 'list-single', values: ['25'], options: [{ label: 'twenty-five', value: '25' }, { value: '50' }] },
      ],
    };
    const el = buildForm(form);
    const text = el.toString();
    expect(text).to.contain(`<x xmlns="jabber:x:data" type="form">`);
    expect(text).to.contain(`<field var="accountjid" type="jid-single" label="The Jabber ID for the account to be added"><required/></field>`);
    expect(parseForm(parseXml(text))).to.deep.equal(form);
  });

  it('builds multi-item results with reported headers and items', function () {
    const form: DataForm = {
      type: 'result',
      fields: [],
      reported: [{ var: 'jid', type: 'jid-single', values: [] }],
      items: [[{ var: 'jid', values: ['a@localhost'] }], [{ var: 'jid', values: ['b@localhost'] }]],
    };
    const back = parseForm(parseXml(buildForm(form).toString()));
    expect(back.reported).to.deep.equal(form.reported);
    expect(back.items).to.deep.equal(form.items);
  });

  it('finds a form among a payload’s children, by FORM_TYPE when asked', function () {
    const parent = x(
      'command',
      { xmlns: 'http://jabber.org/protocol/commands' },
      buildForm({ type: 'submit', fields: [formTypeField('urn:a')] }),
      buildForm({ type: 'submit', fields: [formTypeField('urn:b'), { var: 'v', values: ['1'] }] }),
    );
    const reparsed = parseXml(parent.toString());
    expect(getFormType(findForm(reparsed)!)).to.equal('urn:a');
    expect(getValue(findForm(reparsed, 'urn:b')!, 'v')).to.equal('1');
    expect(findForm(reparsed, 'urn:c')).to.equal(undefined);
    expect(findForm(x('query'))).to.equal(undefined);
  });
});
