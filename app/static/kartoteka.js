/* Kartoteka: a customer or order chosen by typing (app/lookups.py). */
function kartotekaLookup(selector) {
  var element = $(selector);
  var o = element.data('lookup');
  element.select2({
    theme: 'bootstrap',
    allowClear: true,
    placeholder: o.placeholder,
    minimumInputLength: 2,
    ajax: {
      url: o.url,
      dataType: 'json',
      delay: 250,
      data: function (params) { return {q: params.term}; },
      processResults: function (data) { return {results: data.results}; }
    },
    language: {
      inputTooShort: function () { return o.inputTooShort; },
      noResults: function () { return o.noResults; },
      searching: function () { return o.searching; },
      errorLoading: function () { return o.errorLoading; }
    }
  });
}
