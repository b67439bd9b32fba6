// The billing page's Stripe glue (called from app/src/components/payments_glue.rs).
// Stripe.js is loaded from the configured URL only when someone buys
// credits; card details go straight from Stripe's iframe to Stripe.
(function () {
  let loading = null;
  let current = null;

  function load(src) {
    if (window.Stripe) return Promise.resolve();
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(); };
        script.onerror = function () {
          loading = null;
          reject(new Error("Stripe could not be reached; check your connection and try again."));
        };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  window.alumiaPayments = {
    mount: async function (jsUrl, publishableKey, clientSecret, elementId) {
      await load(jsUrl);
      const stripe = window.Stripe(publishableKey);
      const elements = stripe.elements({ clientSecret: clientSecret });
      const payment = elements.create("payment");
      const target = document.getElementById(elementId);
      target.replaceChildren();
      payment.mount(target);
      current = { stripe: stripe, elements: elements, target: target };
      return "mounted";
    },
    confirm: async function (returnUrl) {
      if (!current) throw new Error("Choose an amount first.");
      const result = await current.stripe.confirmPayment({
        elements: current.elements,
        confirmParams: { return_url: returnUrl },
        redirect: "if_required",
      });
      if (result.error) throw new Error(result.error.message || "The payment did not go through.");
      // Paid: the form goes; a next purchase mounts a new one.
      current.target.replaceChildren();
      current = null;
      return result.paymentIntent ? result.paymentIntent.status : "processing";
    },
  };
})();
